"""The operations endpoints and logs as an operator meets them: secrets masked in every
line, /healthz answered from what the poller loop last saw, /metrics behind a token.

Through a real `cflow-bot serve` process where its stderr is the point, else through the
running bot; the sandbox and the Slack stand-in over real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import event

from bot.devtools.slack_standin.slack import SlackStandIn
from bot.runtime.server import RunningBot
from bot.runtime.services import Services
from bot.telemetry.health import SNAPSHOT_SECONDS
from bot.telemetry.logs import MASK
from tests.harness import RATE_SCALE, Sandbox, running_bot, serving
from tests.tcp_proxy import TcpProxy
from tests.test_faults import through

HOOK_SECRET = "a-hook-secret-of-at-least-24"
GETS = 200
METRICS_TOKEN = "a-metrics-token-0123456789"


def serve_env(sandbox: Sandbox, slack: SlackStandIn, tmp_path: Path, **more: str) -> dict[str, str]:
    """What a deployment sets, on SQLite in `tmp_path`."""
    return {
        "CFLOW_BASE_URL": sandbox.url,
        "CFLOW_API_KEY": sandbox.state.api_key,
        "CFLOW_USERNAME": "cflow-bot",
        "CFLOW_USER_KEY": "cflow-bot-key",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": "an-operations-signing-secret",
        "SLACK_API_URL": slack.api_url,
        "SLACK_RATE_SCALE": str(RATE_SCALE),
        "CFLOW_NOTIFY_CHANNEL": "C0NOTIFY",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "CFLOW_BOT_SECRET_KEY": Fernet.generate_key().decode(),
        **more,
    }


async def raw_request(url: str, head: str) -> bytes:
    """Send `head` as it is (aiohttp's client would refuse to) and return the status line."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(head.encode())
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()


@pytest.mark.slow
async def test_the_hook_secret_and_metrics_token_are_masked_in_every_line(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    logged = tmp_path / "stderr.log"
    async with SlackStandIn(rate_scale=RATE_SCALE) as slack:
        env = serve_env(
            sandbox,
            slack,
            tmp_path,
            LOG_LEVEL="DEBUG",
            CFLOW_POLL_INTERVAL="1",
            CFLOW_HOOK_SECRET=HOOK_SECRET,
            METRICS_TOKEN=METRICS_TOKEN,
        )
        with logged.open("wb") as stderr:
            async with serving(env, tmp_path, http, stderr=stderr) as served:
                await served.healthy()
                hook_url = f"{served.url}/cflow/hook/{HOOK_SECRET}"
                async with http.post(hook_url, json={"workflowId": "1001"}) as response:
                    assert response.status == 202
                bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
                async with http.get(served.url + "/metrics", headers=bearer) as response:
                    assert response.status == 200
                # A malformed request: aiohttp logs its offending line in the traceback.
                for head in (
                    f"POST /cflow/hook/{HOOK_SECRET}\x01 HTTP/1.1\r\nHost: bot\r\n\r\n",
                    f"GET /metrics HTTP/1.1\r\nAuthorization: Bearer {METRICS_TOKEN}\x01\r\n\r\n",
                ):
                    assert b" 400 " in await raw_request(served.url, head)
                code, _ = await served.stop()
    assert code == 0
    text = logged.read_text()
    assert HOOK_SECRET not in text and METRICS_TOKEN not in text
    assert text.count("Error handling request") >= 2 and MASK in text, "the lines were written"


# /healthz: from what the poller loop last saw, not a query per GET


@contextlib.contextmanager
def statements(services: Services) -> Iterator[list[str]]:
    """Every SQL statement the instance's store sends while inside."""
    sent: list[str] = []
    engine = services.store.engine.sync_engine  # type: ignore[attr-defined]

    def record(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def health_of(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    async with http.get(url + "/healthz") as response:
        return response.status, await response.json()


async def test_healthz_makes_no_query_per_get(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with running_bot(sandbox, http, tmp_path, cflow_poll_interval=30.0) as bot:
        await bot.cycles(1)
        with statements(bot.services) as sent:
            answers = [await bot.health() for _ in range(GETS)]
        assert all(status == 200 and body["polling_here"] for status, body in answers)
        assert answers[-1][1]["poller"]["workflows"] >= 3 and answers[-1][1]["store"] == "ok"
        # The loop's own statements between cycles (the hook's hints, the lease, the
        # undo windows' passes) may happen to fall in; none of the health reads it
        # replaced may.
        loop = ("FROM refresh_hints", "INSERT INTO locks", "FROM pending_decisions")
        assert [s for s in sent if not any(own in s for own in loop)] == []

        settings = bot.running.settings
        async with RunningBot(settings, host="127.0.0.1", port=0, poll=False) as other:
            started = time.monotonic()
            with statements(other.services) as sent:
                answers = [await health_of(http, other.url) for _ in range(GETS)]
            snapshots = 1 + int((time.monotonic() - started) // SNAPSHOT_SECONDS)
        assert all(status == 200 and not body["polling_here"] for status, body in answers)
        assert "poller_loop" not in answers[-1][1] and answers[-1][1]["poller"] is not None
        sent = [s for s in sent if "FROM pending_decisions" not in s]  # its undo passes
        assert len(sent) <= 3 * snapshots, sent  # ping, lease holder, last cycle


async def seconds_until(
    http: aiohttp.ClientSession,
    url: str,
    wanted: int,
    timeout: float = 30.0,  # noqa: ASYNC109
    *,
    saying: str = "",
) -> tuple[float, dict[str, Any]]:
    """How long until /healthz at `url` answers `wanted`, with `saying` in its reason;
    its body then."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with contextlib.suppress(aiohttp.ClientError):
            status, body = await health_of(http, url)
            if status == wanted and saying in body.get("reason", ""):
                return time.monotonic() - started, body
        await asyncio.sleep(0.1)
    raise AssertionError(f"/healthz never answered {wanted} {saying!r} in {timeout} s")


@pytest.mark.slow
async def test_a_database_that_stops_answering_turns_healthz_to_503_in_bounded_time(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, postgres_url: str
) -> None:
    interval = 2.0
    target = urlsplit(postgres_url)
    async with (
        TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy,
        running_bot(
            sandbox,
            http,
            tmp_path,
            database_url=through(proxy, postgres_url),
            cflow_poll_interval=interval,
        ) as bot,
        RunningBot(bot.running.settings, host="127.0.0.1", port=0, poll=False) as other,
    ):
        await bot.cycles(1)
        assert (await bot.health())[0] == 200
        assert (await health_of(http, other.url))[0] == 200
        proxy.cut()
        polling, body = await seconds_until(http, bot.running.url, 503)
        assert "database" in body["reason"] and body["store"] == "unreachable"
        # Its next lease call, within an interval (two, had a cycle been under way).
        assert polling < 2 * interval + 1, polling
        # Until its snapshot of the store lapses it may first see the polling instance's
        # last cycle grow old (3 intervals) instead, on a machine slow enough: also a 503.
        standing_by, body = await seconds_until(http, other.url, 503, saying="database")
        assert "database" in body["reason"]
        assert standing_by < SNAPSHOT_SECONDS + 1, standing_by
        proxy.restore()
        await seconds_until(http, bot.running.url, 200)
        await seconds_until(http, other.url, 200)


# /metrics: open, or behind METRICS_TOKEN


async def metrics_status(
    http: aiohttp.ClientSession, url: str, authorization: str | None = None
) -> int:
    headers = {"Authorization": authorization} if authorization is not None else {}
    async with http.get(url + "/metrics", headers=headers) as response:
        body = await response.text()
        assert response.status != 200 or "cflow_bot_" in body
        return response.status


async def test_metrics_need_the_token_when_one_is_set(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with running_bot(sandbox, http, tmp_path, metrics_token=METRICS_TOKEN) as bot:
        url = bot.running.url
        refused = [
            await metrics_status(http, url),
            await metrics_status(http, url, f"Bearer {METRICS_TOKEN[:-1]}x"),
            await metrics_status(http, url, f"Basic {METRICS_TOKEN}"),
            await metrics_status(http, url, f"Bearer {METRICS_TOKEN}-and-more"),
            await metrics_status(http, url, "Bearer"),
        ]
        assert refused == [401] * len(refused)
        assert await metrics_status(http, url, f"Bearer {METRICS_TOKEN}") == 200
        assert await metrics_status(http, url, f"bearer {METRICS_TOKEN}") == 200
        assert (await bot.health())[0] == 200, "/healthz needs no token"


async def test_metrics_stay_open_without_a_token(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with running_bot(sandbox, http, tmp_path) as bot:
        assert await metrics_status(http, bot.running.url) == 200
        assert await metrics_status(http, bot.running.url, "Bearer anything-at-all") == 200
