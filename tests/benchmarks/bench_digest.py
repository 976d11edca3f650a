"""Digests for 500 people at once, under Slack's real limits.

500 linked reviewers, all on a daily digest at 09:00 in one time zone, each with four
requests waiting (50 one-stage workflows of ten reviewers each, four pending in each).
The bot's clock is injected: it starts just before nine, and the run begins when the
clock reaches nine. Figures: the seconds until every person has their one digest, the
floor Slack's limits put under the same calls (chat.postMessage is held to a few
hundred a minute per workspace), 429s, digests sent twice, and the Cflow calls beyond
the poll cycles' own listings (none: digests come from what a cycle listed). Run with
the command in the README's Performance section.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from pydantic import SecretStr

from bot.blocks.roundups import ITEM_BLOCK
from bot.devtools.cflow_standin.seed import demo_state
from bot.devtools.cflow_standin.server import start_sandbox
from bot.devtools.cflow_standin.state import SandboxState
from bot.devtools.slack_standin.slack import SlackCall, SlackStandIn
from bot.domain.hours import next_digest
from bot.runtime.server import RunningBot
from bot.store import open_store
from bot.store.records import Link, Preference
from tests.benchmarks.bench_burst import floor_seconds
from tests.benchmarks.harness import bot_settings, report
from tests.harness import cycles_of

CHANNEL = "C0BENCH"
PEOPLE = 500
PER_WORKFLOW = 10  # reviewers of each workflow's one stage
WAITING = 4  # pending requests in each workflow: each person's digest lists four
INTERVAL = 10.0
ZONE = ZoneInfo("America/Los_Angeles")
ACCEPTED_RATIO = 1.2


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def person(number: int) -> str:
    return f"person{number:03d}"


def slack_id(name: str) -> str:
    return f"U{name.upper()}"


def account() -> SandboxState:
    state = demo_state(now=datetime.now(UTC))
    for number in range(PEOPLE):
        state.add_user(person(number), "Employee", f"{person(number)}-key")
    for index in range(PEOPLE // PER_WORKFLOW):
        names = [person(index * PER_WORKFLOW + n) for n in range(PER_WORKFLOW)]
        workflow = state.add_workflow(
            str(8001 + index), f"Digest Workflow {index}", [("Approval", names)]
        )
        for _ in range(WAITING):
            state.add_request(workflow.id, {"Amount": 10}, "dave")
    return state


def digest_of(call: SlackCall) -> str | None:
    """The group id of a digest DM (a roundup_dm card whose id starts with "digest-")."""
    payload = (call.params.get("metadata") or {}).get("event_payload") or {}
    group = str(payload.get("request_id") or "")
    return group if payload.get("kind") == "roundup_dm" and group.startswith("digest-") else None


async def test_a_digest_for_500_people_at_nine(tmp_path: Path) -> None:
    state = account()
    nine = datetime(2026, 12, 2, 9, 0, tzinfo=ZONE)
    clock = Clock(datetime(2026, 12, 2, 8, 59, tzinfo=ZONE).astimezone(UTC))
    runner, url = await start_sandbox(state)
    slack = SlackStandIn()  # Slack's real limits
    await slack.start()
    slack.add_channel(CHANNEL, "approvals")
    for number in range(PEOPLE):
        name = person(number)
        slack.add_user(slack_id(name), f"{name}@example.com", name, tz=ZONE.key)
    settings = bot_settings(url, slack, tmp_path, cflow_poll_interval=INTERVAL)
    store = await open_store(settings.database_url, settings.secret_keys)
    for number in range(PEOPLE):
        name = person(number)
        await store.save_link(Link(slack_id(name), name, SecretStr(f"{name}-key")))
        pref = Preference(slack_id(name), mode="digest", digest_at=9 * 60, tz=ZONE.key)
        await store.save_preference(
            pref.__class__(**{**pref.__dict__, "next_run_at": next_digest(pref, clock())})
        )
    await store.close()
    try:
        async with (
            aiohttp.ClientSession(),
            RunningBot(settings, host="127.0.0.1", port=0, clock=clock) as bot,
        ):
            services = bot.services
            assert services is not None
            await cycles_of(2, services.poller_health, timeout=120)
            await services.publisher.delivered()
            assert not [c for c in slack.calls("chat.postMessage") if digest_of(c)], (
                "not before nine"
            )
            listings = len(state.calls)
            clock.now = nine.astimezone(UTC)
            since = time.monotonic()
            digests = await _until_everyone_has_one(slack, since)
            last = max(c.time for c in digests.values())
            await cycles_of(2, services.poller_health, timeout=120)
            await services.publisher.delivered()
            rows = _figures(slack, state, since, last, digests, listings)
    finally:
        await slack.stop()
        await runner.cleanup()
    assert rows["digests sent twice"] == 0
    assert rows["answered 429"] == 0
    assert rows["seconds until all 500 had their digest"] <= (
        ACCEPTED_RATIO * rows["floor of Slack's limits for the same calls, s"] + INTERVAL
    )
    assert rows["Cflow calls beyond the cycles' listings"] == 0, rows["  which"]


async def _until_everyone_has_one(slack: SlackStandIn, since: float) -> dict[str, SlackCall]:
    deadline = time.monotonic() + 900
    while True:
        found = {
            c.response["channel"]: c
            for c in slack.calls("chat.postMessage")
            if c.time >= since and not c.failed and digest_of(c) and c.response
        }
        if len(found) >= PEOPLE:
            return found
        assert time.monotonic() < deadline, f"only {len(found)} digests after 900 s"
        await asyncio.sleep(0.2)


def _figures(
    slack: SlackStandIn,
    state: SandboxState,
    since: float,
    last: float,
    digests: dict[str, SlackCall],
    listings: int,
) -> dict[str, Any]:
    calls = [c for c in slack.calls() if c.time >= since]
    posted = [c for c in calls if c.method == "chat.postMessage" and not c.failed and digest_of(c)]
    items = [
        sum(1 for b in c.params["blocks"] if str(b.get("block_id", "")).startswith(ITEM_BLOCK))
        for c in posted
    ]
    beyond = [
        c for c in state.calls[listings:] if c.operation not in ("getWorkflows", "listRequests")
    ]
    rows = {
        "seconds until all 500 had their digest": last - since,
        "floor of Slack's limits for the same calls, s": floor_seconds(
            c for c in calls if c.error != "ratelimited" and c.time <= last
        ),
        "digests": len(digests),
        "digests sent twice": len(posted) - len({digest_of(c) for c in posted}),
        "items per digest (min, max)": f"{min(items)}, {max(items)}",
        "Slack calls": len(calls),
        "answered 429": sum(1 for c in calls if c.error == "ratelimited"),
        "Cflow calls beyond the cycles' listings": len(beyond),
        "  which": ", ".join(sorted({c.operation for c in beyond})) or "none",
    }
    report("digests for 500 people at their 09:00", rows)
    return rows
