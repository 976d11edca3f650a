"""The operations endpoints and logs as an operator meets them: secrets masked in every
line, /healthz answered from what the poller loop last saw, /metrics behind a token.

Through a real `cflow-bot serve` process where its stderr is the point, else through the
running bot; the sandbox and the Slack stand-in over real sockets.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from cryptography.fernet import Fernet

from bot.logs import MASK
from bot.standin.slack import SlackStandIn
from tests.harness import RATE_SCALE, Sandbox, serving

HOOK_SECRET = "a-hook-secret-of-at-least-24"
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
