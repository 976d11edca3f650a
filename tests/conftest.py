"""Shared fixtures: the Cflow sandbox over a real socket, a client pointed at it, the bot."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from bot.cflow import CflowClient
from bot.sandbox.seed import demo_state
from bot.sandbox.server import start_sandbox
from bot.settings import HINTS
from tests.harness import (
    DEFAULT_POSTGRES,
    FAST_RETRY,
    Bot,
    Sandbox,
    postgres_unreachable,
    running_bot,
)


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their settings explicitly; a developer's own variables must not leak in."""
    for name in HINTS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    state = demo_state()
    runner, url = await start_sandbox(state)
    try:
        yield Sandbox(state, url)
    finally:
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def cflow(http: aiohttp.ClientSession, sandbox: Sandbox) -> CflowClient:
    return CflowClient(http, sandbox.url, timeout=2.0, retry=FAST_RETRY)


@pytest.fixture
async def bot(sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path) -> AsyncIterator[Bot]:
    """The bot running in-process against the fake Slack and the sandbox."""
    async with running_bot(sandbox, http, tmp_path) as started:
        yield started


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A database of its own for this test, dropped afterwards."""
    base = os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES)
    try:
        admin = await asyncpg.connect(base, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        postgres_unreachable(base, str(error))
    name = f"cflowbot_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
