"""Ten people flicking their Home tabs: what it costs Cflow, and how fast Slack is answered.

20 workflows of 300 pending requests each (two workflows per reviewer, ten reviewers),
the bot as `cflow-bot serve` in its own process, the sandbox in another. Once the poller
is steady, each of the ten opens their Home tab three times within 5 s (signed
`app_home_opened` events, as Slack sends them). Figures: the Cflow calls made in that
window beyond the poll cycles' own (before the shared listing, each open listed every
workflow with the person's key: 1 + 23 calls and the parsing of 6,000 requests), the
calls made with a person's key, and the acknowledgement latency. The window starts and
ends as a poll cycle completes, so it holds whole cycles only. Run with the command in
the README's Performance section.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.devtools.slack_standin.payloads import event_callback, sign
from bot.devtools.slack_standin.slack import SlackStandIn
from bot.store import open_store
from bot.store.records import Link
from tests.benchmarks.harness import SandboxProcess, percentile, report, sandbox_process
from tests.harness import BotProcess, serving

PEOPLE = 10
OPENS = 3
WINDOW = 5.0  # seconds over which each person's opens are spread
WORKFLOWS_EACH = 2
REQUESTS = 300
SECRET = "bench-secret"
CHANNEL = "C0BENCH"
SERVICE = "cflow-bot"
RATE_SCALE = 20  # the first start's roundups (summary, grouped DMs), sooner


def person(index: int) -> tuple[str, str]:
    """(Slack id, Cflow username) of the benchmark's people."""
    return f"U0P{index:02d}", f"reviewer{index}"


async def test_ten_people_open_their_home_tabs(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    async with sandbox_process(http) as sandbox, SlackStandIn(rate_scale=RATE_SCALE) as slack:
        slack.add_channel(CHANNEL, "bench")
        for index in range(PEOPLE):
            slack_id, name = person(index)
            slack.add_user(slack_id, f"{name}@example.com", name)
            await sandbox.control(
                "POST",
                "populate",
                workflows=WORKFLOWS_EACH,
                requestsPerWorkflow=REQUESTS,
                reviewer=name,
            )
        env = {
            "CFLOW_BASE_URL": sandbox.url,
            "CFLOW_API_KEY": "sandbox-api-key",
            "CFLOW_USERNAME": SERVICE,
            "CFLOW_USER_KEY": "cflow-bot-key",
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.api_url,
            "CFLOW_NOTIFY_CHANNEL": CHANNEL,
            "CFLOW_POLL_INTERVAL": "2",
            "SLACK_RATE_SCALE": str(RATE_SCALE),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bench.db'}",
            "CFLOW_BOT_SECRET_KEY": Fernet.generate_key().decode(),
        }
        await link_everyone(env)
        async with serving(env, tmp_path, http) as bot:
            await bot.healthy(timeout=60)
            await whole_cycles(bot, 3)  # past the first start's backlog: a steady poller
            figures = await flick(http, bot, sandbox, slack)
    report(f"{PEOPLE} people open their Home tab {OPENS} times in {WINDOW:g} s", figures)
    assert figures["Cflow calls with a person's key"] == 0
    assert figures["Cflow calls beyond the poll cycles' own (target <= 10)"] <= 10
    assert figures["acknowledgement p99, ms (target < 250)"] < 250


async def link_everyone(env: dict[str, str]) -> None:
    store = await open_store(env["DATABASE_URL"], [env["CFLOW_BOT_SECRET_KEY"]])
    try:
        for index in range(PEOPLE):
            slack_id, name = person(index)
            await store.save_link(Link(slack_id, name, SecretStr(f"{name}-key")))
    finally:
        await store.close()


async def whole_cycles(bot: BotProcess, count: int) -> int:
    """Wait until `count` more cycles have completed, returning as the last one does."""
    target = await bot.cycles() + count
    done = await bot.cycles()
    while done < target:  # another process: its /healthz is the only way to ask
        await asyncio.sleep(0.02)
        done = await bot.cycles()
    return done


async def flick(
    http: aiohttp.ClientSession, bot: BotProcess, sandbox: SandboxProcess, slack: SlackStandIn
) -> dict[str, float | int]:
    url = bot.url + "/slack/events"
    start_cycles = await whole_cycles(bot, 1)
    calls_before = len(await sandbox.calls())
    published_before = len(slack.calls("views.publish"))

    async def opens(index: int) -> list[float]:
        slack_id, _ = person(index)
        acks = []
        for turn in range(OPENS):
            await asyncio.sleep(index * 0.05 if turn == 0 else WINDOW / OPENS)
            acks.append(await timed_open(http, url, slack_id))
        return acks

    started = time.monotonic()
    acks = [ack for each in await asyncio.gather(*map(opens, range(PEOPLE))) for ack in each]
    await slack.wait_for("views.publish", count=published_before + PEOPLE * OPENS, timeout=60)
    published = time.monotonic() - started
    end_cycles = await whole_cycles(bot, 1)
    calls = (await sandbox.calls())[calls_before:]
    cycles = end_cycles - start_cycles
    per_cycle = 1 + len({c["path"] for c in calls if c["operation"] == "listRequests"})
    by_people = [c for c in calls if c.get("username") != SERVICE]
    return {
        "poll cycles in the window": cycles,
        "Cflow calls in the window": len(calls),
        "Cflow calls of a cycle (listWorkflows + listRequests)": per_cycle,
        "Cflow calls beyond the poll cycles' own (target <= 10)": len(calls) - cycles * per_cycle,
        "Cflow calls with a person's key": len(by_people),
        "acknowledgement p50, ms": percentile(acks, 0.5) * 1000,
        "acknowledgement p99, ms (target < 250)": percentile(acks, 0.99) * 1000,
        "every tab published after, s": published,
    }


async def timed_open(http: aiohttp.ClientSession, url: str, slack_id: str) -> float:
    body = event_callback({"type": "app_home_opened", "user": slack_id, "tab": "home"})
    headers = sign(body, SECRET, content_type="application/json")
    began = time.monotonic()
    async with http.post(url, data=body, headers=headers) as response:
        await response.read()
        assert response.status == 200
    return time.monotonic() - began
