"""Real faults through the running bot: nothing repeats, stalls or misleads.

Each test makes one thing go wrong the way production does (a database that goes away,
a DM that cannot be delivered, an odd but legal Cflow answer …) and checks what people
would see in Slack, what /healthz says, and that every card arrives exactly once.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from bot.testing.tcp_proxy import TcpProxy
from tests.harness import CHANNEL, Bot, Sandbox, new_expense, running_bot

OUTAGE_SECONDS = 8.0


def through(proxy: TcpProxy, url: str) -> str:
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))


async def health_during(bot: Bot, seconds: float) -> list[tuple[int, dict[str, Any]]]:
    """/healthz answers, four a second, for `seconds`."""
    answers, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        answers.append(await bot.health())
        await asyncio.sleep(0.25)
    return answers


async def assert_each_card_once(bot: Bot, request_ids: list[str]) -> None:
    for request_id in request_ids:
        await bot.channel_card(request_id)
    await bot.cycles(3)
    for request_id in request_ids:
        assert len(bot.cards_posted(request_id, CHANNEL)) == 1, request_id


async def test_postgres_going_away_for_seconds_stalls_nothing_and_repeats_nothing(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, postgres_url: str
) -> None:
    target = urlsplit(postgres_url)
    async with (
        TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy,
        running_bot(
            sandbox,
            http,
            tmp_path,
            database_url=through(proxy, postgres_url),
            cflow_poll_interval=0.5,
        ) as bot,
    ):
        before = new_expense(sandbox, Description="before the outage")
        await bot.channel_card(before)
        proxy.cut()
        during = [new_expense(sandbox, Description=f"during {n}") for n in range(3)]
        answers = await health_during(bot, OUTAGE_SECONDS)
        proxy.restore()
        assert proxy.refused > 0, "the bot kept trying the database"
        unhealthy = [body for status, body in answers if status == 503]
        assert len(unhealthy) >= len(answers) // 2, "/healthz said so while it lasted"
        assert "database" in unhealthy[-1]["reason"]
        await assert_each_card_once(bot, [before, *during])
        status, body = await bot.health()
        assert status == 200 and body["ok"], body
        assert body["poller_loop"]["failures"], "the failures were counted"


async def test_sqlite_locked_by_another_process_stalls_then_recovers(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with running_bot(sandbox, http, tmp_path, cflow_poll_interval=0.3) as bot:
        before = new_expense(sandbox, Description="before the lock")
        await bot.channel_card(before)
        await bot.cycles(1)
        other = sqlite3.connect(tmp_path / "bot.db", isolation_level=None, timeout=30)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            during = [new_expense(sandbox, Description=f"during {n}") for n in range(2)]
            answers = await health_during(bot, OUTAGE_SECONDS / 2)
        finally:
            other.execute("ROLLBACK")
            other.close()
        reasons = [body.get("reason", "") for status, body in answers if status == 503]
        assert any("no poll cycle" in reason for reason in reasons), answers[-1]
        await assert_each_card_once(bot, [before, *during])
        status, _ = await bot.health()
        assert status == 200
