"""What the benchmarks share: a sandbox in its own process, the bot's settings, figures."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import re
import resource
import statistics
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.fernet import Fernet
from sqlalchemy import event

from bot.devtools.slack_standin.slack import SlackStandIn
from bot.settings import Settings, load_settings
from bot.store.sql import SqlStore
from tests.harness import spawn


@dataclass
class SandboxProcess:
    """The Cflow sandbox in a process of its own, so its work does not slow the bot's."""

    url: str
    http: aiohttp.ClientSession

    async def control(self, method: str, path: str, **body: Any) -> Any:
        async with self.http.request(method, f"{self.url}/_sandbox/{path}", json=body) as r:
            r.raise_for_status()
            return await r.json() if r.content_type == "application/json" else None

    async def calls(self) -> list[dict[str, Any]]:
        return await self.control("GET", "calls")


@contextlib.asynccontextmanager
async def sandbox_process(http: aiohttp.ClientSession) -> AsyncIterator[SandboxProcess]:
    """`cflow-bot sandbox` on a port the system picks, which it prints once it serves."""
    process = await spawn("sandbox", "--port", "0", stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        printed = await asyncio.wait_for(process.stdout.readuntil(b"CFLOW_USER_KEY="), 60)
        served = re.search(rb"CFLOW_BASE_URL=(http://\S+)", printed)
        assert served, printed
        yield SandboxProcess(served[1].decode(), http)
    finally:
        process.terminate()
        await process.wait()


def bot_settings(cflow_url: str, slack: SlackStandIn, tmp: Path, **extra: Any) -> Settings:
    """The bot's settings against a sandbox at `cflow_url` with the demo account."""
    return load_settings(
        None,
        cflow_base_url=cflow_url,
        cflow_api_key="sandbox-api-key",
        cflow_username="cflow-bot",
        cflow_user_key="cflow-bot-key",
        slack_bot_token=slack.bot_token,
        slack_signing_secret="bench-secret",
        slack_api_url=slack.api_url,
        cflow_notify_channel="C0BENCH",
        database_url=f"sqlite:///{tmp / 'bench.db'}",
        cflow_bot_secret_key=Fernet.generate_key().decode(),
        **extra,
    )


class QueryCounter:
    """Counts the SQL statements a store sends (each is one round trip)."""

    def __init__(self, store: SqlStore) -> None:
        self.count = 0
        event.listen(store.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1

    def take(self) -> int:
        count, self.count = self.count, 0
        return count


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def machine() -> str:
    cores = os.cpu_count()
    return f"{platform.machine()}, {cores} cores, Python {platform.python_version()}"


def report(title: str, rows: dict[str, Any]) -> None:
    print(f"\n== {title} ({machine()})")
    for name, value in rows.items():
        shown = f"{value:.3f}" if isinstance(value, float) else value
        print(f"  {name}: {shown}")


def median(values: list[float]) -> float:
    return statistics.median(values)
