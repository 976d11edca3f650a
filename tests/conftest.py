"""Shared fixtures: the Cflow sandbox over a real socket, and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from pydantic import SecretStr

from bot.cflow import CflowClient, Credentials, RetryPolicy
from bot.sandbox.seed import demo_state
from bot.sandbox.server import start_sandbox
from bot.sandbox.state import SandboxState
from bot.settings import HINTS

# Short waits keep retry tests quick while exercising the same code path.
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, total=5.0)


@dataclass
class Sandbox:
    """A running sandbox: its state (to arrange and inspect) and its URL."""

    state: SandboxState
    url: str

    def creds(self, username: str, *, user_key: str | None = None) -> Credentials:
        key = user_key if user_key is not None else self.state.users[username].user_key
        return Credentials(
            api_key=SecretStr(self.state.api_key), username=username, user_key=SecretStr(key)
        )

    def calls(self, operation: str | None = None) -> list:
        return [c for c in self.state.calls if operation in (None, c.operation)]


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
