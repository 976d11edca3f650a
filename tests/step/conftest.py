"""Fixtures of the step tier: virtual time, an empty Cflow account on it, a store migrated
once per session and copied per test, and the bot in step mode (tests/step/harness.py)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bot.devtools.cflow_standin.server import start_sandbox
from bot.store import open_store
from tests.harness import Sandbox
from tests.step.harness import START, SteppedBot, empty_account, stepping_bot
from tests.virtual_time import VirtualTime

StartBot = Callable[..., Awaitable[SteppedBot]]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def migrated_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store at the newest migration, made once: the bot upgrades its store at
    start, which on a copy of this one finds nothing to do."""
    path = tmp_path_factory.mktemp("step-store") / "migrated.db"
    store = await open_store(f"sqlite:///{path}", [])
    await store.close()
    return path


@pytest.fixture
def database(migrated_store: Path, tmp_path: Path) -> Path:
    """This test's own copy of the migrated store."""
    copy = tmp_path / "bot.db"
    shutil.copyfile(migrated_store, copy)
    return copy


@pytest.fixture
def vt() -> VirtualTime:
    """Virtual time, from Tuesday 1 December 2026, 10:00 in Los Angeles."""
    return VirtualTime(START)


@pytest.fixture
async def sandbox(vt: VirtualTime) -> AsyncIterator[Sandbox]:
    """An empty Cflow account whose requests are stamped in virtual time."""
    state = empty_account(vt.now)
    runner, url = await start_sandbox(state)
    try:
        yield Sandbox(state, url)
    finally:
        await runner.cleanup()


@pytest.fixture
async def start(
    sandbox: Sandbox, http: aiohttp.ClientSession, database: Path, vt: VirtualTime
) -> AsyncIterator[StartBot]:
    """`await start(**settings)`: the bot in step mode, its first step done."""
    async with contextlib.AsyncExitStack() as stack:

        async def started(**settings: Any) -> SteppedBot:
            return await stack.enter_async_context(
                stepping_bot(sandbox, http, database, vt, **settings)
            )

        yield started


@pytest.fixture
async def bot(start: StartBot) -> SteppedBot:
    """The bot in step mode with the default settings (reminders and escalation off)."""
    return await start()
