"""Two instances, one workspace: one pace of Slack calls between them.

Slack counts each method's calls per app per workspace: two instances that each pace
alone make twice what Slack allows. These tests run two bots against one Slack stand-in
(one workspace, whose limits count the calls of both, with 429 and Retry-After beyond
them) and one PostgreSQL database, the store they share their pace through; and the
store's part of it on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from bot.devtools.slack_standin.slack import SlackCall
from bot.outbound.limits import POSTING, TIER_3, Limit
from bot.outbound.pacing import Rank, urgency
from bot.store import open_store
from bot.store.sql_pace import SqlPace, open_pace
from tests.harness import CHANNEL, Bot, Sandbox, running_bot
from tests.tcp_proxy import TcpProxy
from tests.test_faults import through

# Slack's limits five times faster on both sides: seconds, not minutes. Faster still,
# the jitter of a busy test machine (a connection opened, a process descheduled) is a
# whole interval of Slack's, which no real network adds at Slack's own rates.
SCALE = 5.0
BUSY = 5.0  # seconds of editing: 25 Slack-seconds at SCALE
EDITORS = 6  # concurrent editors per instance: always more waiting than Slack allows
SHARED_METRIC = "cflow_bot_slack_pace_shared"


def rate_limited(calls: list[SlackCall]) -> list[SlackCall]:
    return [call for call in calls if call.error == "ratelimited"]


def sample(bot: Bot, name: str, **labels: str) -> float:
    return bot.services.metrics.registry.get_sample_value(name, labels) or 0.0


@contextlib.asynccontextmanager
async def two_instances(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, database_url: str
) -> AsyncIterator[tuple[Bot, Bot]]:
    """Two bots on one database and one Slack workspace; the first polls."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    common: dict[str, Any] = {"rate_scale": SCALE, "database_url": database_url}
    async with running_bot(sandbox, http, tmp_path / "a", **common) as first:
        later = running_bot(sandbox, http, tmp_path / "b", slack=first.slack, poll=False, **common)
        async with later as second:
            yield first, second


async def edit_cards(bot: Bot, request_ids: list[str], stop_at: float, edited: list[int]) -> None:
    """Re-render every card of these requests, over and over (as clicks do), until
    `stop_at`: one instance's editors always have more waiting than Slack allows."""
    services, service = bot.services, bot.services.service
    requests = [
        (await services.cflow.get_workflow(service, workflow_id), workflow_id, request_id)
        for workflow_id, request_id in request_ids_by_workflow(bot.sandbox, request_ids)
    ]

    async def editor(start: int) -> None:
        n = start
        while time.monotonic() < stop_at:
            workflow, workflow_id, request_id = requests[n % len(requests)]
            request = await services.cflow.get_request(service, workflow_id, request_id)
            await services.publisher.refresh(workflow, request, busy=f"edit {n}")
            edited[0] += 1
            n += EDITORS

    await asyncio.gather(*(editor(n) for n in range(EDITORS)))


async def post_thread_lines(bot: Bot, thread_ts: str, stop_at: float, posted: list[int]) -> None:
    """Thread lines in the one channel, as fast as this instance's pace lets them go."""

    async def poster() -> None:
        with urgency(Rank.THREAD_LINE):
            while time.monotonic() < stop_at:
                await bot.services.slack.chat_postMessage(
                    channel=CHANNEL, thread_ts=thread_ts, text="a thread line"
                )
                posted[0] += 1

    await asyncio.gather(*(poster() for _ in range(3)))


async def until(check: Callable[[], object], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "it never came to pass"
        await asyncio.sleep(0.01)


def used(calls: list[SlackCall], limit: Limit) -> float:
    """What share of `limit`'s allowance these calls took, from the first to the last."""
    span = calls[-1].time - calls[0].time
    return (len(calls) - limit.burst) / (limit.per_second * SCALE * span)


def request_ids_by_workflow(sandbox: Sandbox, request_ids: list[str]) -> list[tuple[str, str]]:
    return [
        (workflow_id, request_id)
        for workflow_id, requests in sandbox.state.requests.items()
        for request_id in requests
        if request_id in request_ids
    ]


def pending(sandbox: Sandbox) -> list[str]:
    return [
        request.id
        for requests in sandbox.state.requests.values()
        for request in requests.values()
        if request.status == "pending"
    ]


@pytest.mark.slow
async def test_two_instances_editing_cards_flat_out_share_one_pace_and_get_no_429(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, postgres_url: str
) -> None:
    async with two_instances(sandbox, http, tmp_path, postgres_url) as (first, second):
        waiting = pending(sandbox)
        cards = [await first.channel_card(request_id) for request_id in waiting]
        await first.cycles(1)
        first.slack.clear()
        stop_at = time.monotonic() + BUSY
        bots, thread = (first, second), cards[0].ts
        edited, posted = [[0], [0]], [[0], [0]]
        await asyncio.gather(
            *(edit_cards(bot, waiting, stop_at, edited[n]) for n, bot in enumerate(bots)),
            *(post_thread_lines(bot, thread, stop_at, posted[n]) for n, bot in enumerate(bots)),
        )
        calls = first.slack.calls()
    updates = [call for call in calls if call.method == "chat.update"]
    lines = [call for call in calls if call.params.get("thread_ts") == cards[0].ts]
    limited = rate_limited(calls)
    print(
        f"\ntwo instances, {BUSY:.0f} s at {SCALE:.0f}x: {len(calls)} Slack calls, "
        f"{len(limited)} answered 429; chat.update {len(updates)}, thread lines {len(lines)}; "
        f"edits by each {[e[0] for e in edited]}, lines by each {[p[0] for p in posted]}; "
        f"share of the allowance used: chat.update {used(updates, TIER_3):.2f}, "
        f"thread lines {used(lines, POSTING):.2f}"
    )
    assert len(limited) <= 0.01 * len(calls), [c.method for c in limited]
    # Each instance alone would have used the whole allowance: together they used most
    # of it (a 95 % pace), and Slack's stand-in found them within it.
    assert 0.75 <= used(updates, TIER_3) <= 1.0
    assert 0.75 <= used(lines, POSTING) <= 1.0
    assert all(e[0] > 0 for e in edited) and all(p[0] > 0 for p in posted)


@pytest.mark.slow
async def test_a_429_one_instance_gets_holds_the_other_for_its_retry_after(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, postgres_url: str
) -> None:
    async with two_instances(sandbox, http, tmp_path, postgres_url) as (first, second):
        card = await first.channel_card(pending(sandbox)[0])
        first.slack.fail_next("chat.update", "ratelimited", retry_after=2)
        held = asyncio.create_task(
            first.services.slack.chat_update(channel=CHANNEL, ts=card.ts, text="first")
        )
        refused = await first.slack.wait_for("chat.update", predicate=lambda c: c.failed)
        await until(  # counted once the hold is in the store
            lambda: sample(first, "cflow_bot_slack_rate_limited_total", method="chat.update")
        )
        await second.services.slack.chat_update(channel=CHANNEL, ts=card.ts, text="second")
        await held
    answered = first.slack.calls("chat.update")
    by_second = next(c for c in answered if c.params.get("text") == "second")
    waited = by_second.time - refused[0].time
    assert waited >= 2.0 - 0.05, f"the second instance called {waited:.2f} s after the 429"
    assert rate_limited(answered) == refused[:1]


@pytest.mark.slow
async def test_a_store_that_goes_away_leaves_each_instance_pacing_alone_then_shared_again(
    sandbox: Sandbox,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    postgres_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = urlsplit(postgres_url)
    async with (
        TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy,
        running_bot(
            sandbox, http, tmp_path, rate_scale=SCALE, database_url=through(proxy, postgres_url)
        ) as bot,
    ):
        card = await bot.channel_card(pending(sandbox)[0])
        assert sample(bot, SHARED_METRIC) == 1
        proxy.cut()
        with caplog.at_level(logging.WARNING, logger="bot.outbound.shared_pace"):
            edits = [
                bot.services.slack.chat_update(channel=CHANNEL, ts=card.ts, text=f"cut {n}")
                for n in range(3 * TIER_3.burst)
            ]
            await asyncio.wait_for(asyncio.gather(*edits), 30)
        assert sample(bot, SHARED_METRIC) == 0
        assert sample(bot, "cflow_bot_slack_pace_fallbacks_total") == 1
        said = [r.getMessage() for r in caplog.records if r.name == "bot.outbound.shared_pace"]
        assert len(said) == 1 and "paces its Slack calls alone" in said[0], said
        assert rate_limited(bot.slack.calls()) == [], "paced alone, within Slack's limits"
        proxy.restore()
        deadline = time.monotonic() + 30
        while sample(bot, SHARED_METRIC) != 1:  # asked again within ALONE_FOR
            assert time.monotonic() < deadline, "never paced with the others again"
            await bot.services.slack.chat_update(channel=CHANNEL, ts=card.ts, text="back")


# What it costs


async def test_one_instance_on_sqlite_paces_in_memory_with_no_round_trip(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with running_bot(sandbox, http, tmp_path, rate_scale=SCALE) as bot:
        card = await bot.channel_card(pending(bot.sandbox)[0])
        edits = 3 * TIER_3.burst
        await asyncio.gather(
            *(
                bot.services.slack.chat_update(channel=CHANNEL, ts=card.ts, text=f"{n}")
                for n in range(edits)
            )
        )
        assert bot.services.pace is None
        assert sample(bot, "cflow_bot_slack_pace_reservations_total", method="chat.update") == 0
        assert rate_limited(bot.slack.calls()) == []


@pytest.mark.slow
async def test_a_busy_instance_reserves_its_calls_a_few_at_a_time(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, postgres_url: str
) -> None:
    async with running_bot(
        sandbox, http, tmp_path, rate_scale=SCALE, database_url=postgres_url
    ) as bot:
        card = await bot.channel_card(pending(sandbox)[0])
        await bot.cycles(1)  # every card and DM of the first cycle delivered
        trips = "cflow_bot_slack_pace_reservations_total"
        before = sample(bot, trips, method="chat.update")
        edits = 4 * TIER_3.burst
        await asyncio.gather(
            *(
                bot.services.slack.chat_update(channel=CHANNEL, ts=card.ts, text=f"{n}")
                for n in range(edits)
            )
        )
        made = sample(bot, trips, method="chat.update") - before
    print(f"\none instance, {edits} chat.update at once: {made:.0f} round trips to the store")
    assert 1 <= made <= edits / 3, f"{made:.0f} round trips for {edits} calls"


# The store's part, on SQLite and PostgreSQL


@pytest.fixture
async def two_stores(database_url: str) -> AsyncIterator[tuple[SqlPace, SqlPace]]:
    """Two instances' shared pace on one database (the store creates its table)."""
    await (await open_store(database_url, [])).close()
    first, second = open_pace(database_url), open_pace(database_url)
    try:
        yield first, second
    finally:
        await second.close()
        await first.close()


@dataclass(frozen=True)
class Slot:
    """A slot `at` seconds after one statement's clock, as a statement made up to `moved`
    seconds later sees it: sooner by what the database's clock moved between the two,
    never later, never before now (a millisecond either side: SQLite's clock has no finer
    grain). `moved` is measured around the statements, so that a busy machine, slower
    between two statements than any fixed window allows, cannot fail the test: it
    measures the buckets, not the machine."""

    at: float
    moved: float

    def __eq__(self, seen: object) -> bool:
        if not isinstance(seen, float):
            return NotImplemented
        return max(0.0, self.at - self.moved) - 0.002 <= seen <= self.at + 0.002

    def __repr__(self) -> str:
        return f"<{self.at} s, less up to {self.moved:.3f} s>"


async def test_a_bucket_gives_its_burst_at_once_then_one_slot_an_interval(
    two_stores: tuple[SqlPace, SqlPace],
) -> None:
    first, second = two_stores
    interval, tolerance = 0.1, 0.3  # a burst of four
    started = time.monotonic()
    mine = await first.reserve_slack_calls("chat.update", 3, interval, tolerance)
    theirs = await second.reserve_slack_calls("chat.update", 3, interval, tolerance)
    moved = time.monotonic() - started
    assert mine == [0.0, 0.0, 0.0]
    # The other instance's share starts where this one's ends: the fourth of the burst,
    # then one an interval (less what the clock moved between the two statements).
    assert theirs == [Slot(0.0, moved), Slot(0.1, moved), Slot(0.2, moved)]
    other = await second.reserve_slack_calls("chat.delete", 1, interval, tolerance)
    assert other == [0.0], "each bucket on its own"


async def test_a_hold_keeps_every_instance_out_until_it_ends(
    two_stores: tuple[SqlPace, SqlPace],
) -> None:
    first, second = two_stores
    await first.reserve_slack_calls("chat.update", 1, 0.1, 0.3)
    held = time.monotonic()
    await first.hold_slack_buckets({"chat.update": 0.3}, 2.0)
    after = await second.reserve_slack_calls("chat.update", 2, 0.1, 0.3)
    moved = time.monotonic() - held
    assert after == [Slot(2.0, moved), Slot(2.1, moved)]
    assert after[1] - after[0] == pytest.approx(0.1, abs=0.002), "one at a time after a hold"
    # A shorter hold never shortens a longer one.
    await second.hold_slack_buckets({"chat.update": 0.3}, 1.0)
    later = await first.reserve_slack_calls("chat.update", 1, 0.1, 0.3)
    assert later == [Slot(2.2, time.monotonic() - held)]
