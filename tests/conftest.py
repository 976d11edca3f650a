"""Shared fixtures: the Cflow sandbox over a real socket, a client pointed at it, the bot."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.cflow import CflowClient
from bot.devtools.cflow_standin.seed import demo_state
from bot.devtools.cflow_standin.server import start_sandbox
from bot.settings import HINTS
from bot.store import generate_key, make_engine, schema
from bot.store.migrations.runner import VERSION_TABLE
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


@pytest.fixture(scope="session")
def postgres_base() -> str:
    """TEST_DATABASE_URL, whose database name starts the name of every database the tests
    make on that server (its own, this worker's, each test's)."""
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES)


@pytest.fixture(scope="session")
def worker_database(postgres_base: str) -> str:
    """This pytest process's database: TEST_DATABASE_URL's own in a run without workers,
    else `<its name>_<worker id>` (`test_gw0` …), created when missing, so that tests
    running side by side never see each other's tables."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return postgres_base
    url = sibling(postgres_base, worker)
    with ThreadPoolExecutor(1) as apart:  # its own event loop, not the test's
        problem = apart.submit(asyncio.run, _create_if_missing(postgres_base, url)).result()
    if problem is not None:
        postgres_unreachable(postgres_base, problem)
    return url


def sibling(base: str, suffix: str) -> str:
    """The URL of the database named like `base`'s with `_<suffix>`, on the same server."""
    parsed = make_url(base)
    return parsed.set(database=f"{parsed.database}_{suffix}").render_as_string(hide_password=False)


async def _create_if_missing(base: str, url: str) -> str | None:
    """Create `url`'s database through `base`'s server; None, or why it could not."""
    name = make_url(url).database
    try:
        admin = await asyncpg.connect(base, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        return str(error)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # a twin run's worker
                await admin.execute(f'CREATE DATABASE "{name}"')
        return None
    finally:
        await admin.close()


@pytest.fixture
async def postgres_url(postgres_base: str) -> AsyncIterator[str]:
    """A database of its own for this test, dropped afterwards."""
    try:
        admin = await asyncpg.connect(postgres_base, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        postgres_unreachable(postgres_base, str(error))
    url = sibling(postgres_base, uuid.uuid4().hex[:12])
    name = make_url(url).database
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


# The store, on SQLite and on PostgreSQL


async def _probe(url: str) -> str | None:
    """None when the database answers, else why not."""
    engine = make_engine(url)
    try:
        async with asyncio.timeout(5), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return None
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    finally:
        await engine.dispose()


# Tables of earlier revisions only (tests/test_migrations.py stops at such a revision).
EARLIER_TABLES = ("burst_members",)  # roundup_members before 0008


async def _drop_store_tables(url: str) -> None:
    """Each test starts from an empty database, whatever an earlier run left behind
    (including the version tables of Alembic and of the releases before it, and the
    tables of earlier revisions that a migration test left at its revision)."""
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(schema.metadata.drop_all)
            for table in (VERSION_TABLE, "schema_version", *EARLIER_TABLES):
                await conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def probes() -> dict[str, str | None]:
    """Probe results by URL, so an unreachable server costs one timeout per session."""
    return {}


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, probes: dict[str, str | None]
) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("worker_database")
    if url not in probes:
        probes[url] = await _probe(url)
    problem = probes[url]
    if problem is not None:
        postgres_unreachable(url, problem)
    await _drop_store_tables(url)
    return url


@pytest.fixture
def key() -> str:
    return generate_key()
