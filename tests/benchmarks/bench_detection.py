"""Detection latency: from a request created in Cflow to its channel card in Slack.

50 requests, one every 1.3 s, against the sandbox in this process and the Slack
stand-in with Slack's limits 20 times faster (a poll cycle finds some 23 at once, and
at Slack's real one message a second in a channel their cards would queue, which is not
what is measured here); every request its own card (no roundup); the poll
interval is 30 s. With Cflow's hook each request's creation is followed by the rule's
call (`POST /cflow/hook/<secret>` with its workflow and request ids); without it, only
polling finds them. Figures: p50 and p95 of the seconds from creation to the card's
post. Run with the command in the README's Performance section.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bot.devtools.cflow_standin.seed import demo_state
from bot.devtools.cflow_standin.server import start_sandbox
from bot.devtools.slack_standin.slack import SlackStandIn
from bot.runtime.server import RunningBot
from tests.benchmarks.harness import bot_settings, median, percentile, report
from tests.harness import cycles_of

CHANNEL = "C0BENCH"
REQUESTS = 50
SPACING = 1.3
INTERVAL = 30.0
SECRET = "bench-hook-secret-0123456789"
RATE_SCALE = 20.0


async def test_detection_latency_with_the_hook_and_with_polling(tmp_path: Path) -> None:
    rows: dict[str, Any] = {}
    for hooked in (True, False):
        folder = tmp_path / ("hook" if hooked else "polling")
        folder.mkdir()
        latencies = await measure(folder, hooked=hooked)
        label = "with the hook" if hooked else f"polling only (every {INTERVAL:g} s)"
        rows[f"{label}: p50 s"] = median(latencies)
        rows[f"{label}: p95 s"] = percentile(latencies, 0.95)
        rows[f"{label}: worst s"] = max(latencies)
        if hooked:
            hook_p95 = percentile(latencies, 0.95)
    report(f"detection latency over {REQUESTS} requests, creation to channel card", rows)
    assert hook_p95 < 2.0


async def measure(tmp: Path, *, hooked: bool) -> list[float]:
    state = demo_state(now=datetime.now(UTC))
    runner, url = await start_sandbox(state)
    slack = SlackStandIn(rate_scale=RATE_SCALE)
    await slack.start()
    slack.add_channel(CHANNEL, "approvals")
    extra = {"cflow_hook_secret": SECRET} if hooked else {}
    settings = bot_settings(
        url,
        slack,
        tmp,
        cflow_poll_interval=INTERVAL,
        cflow_burst_limit=REQUESTS,
        slack_rate_scale=RATE_SCALE,
        **extra,
    )
    try:
        async with (
            aiohttp.ClientSession() as http,
            RunningBot(settings, host="127.0.0.1", port=0) as bot,
        ):
            assert bot.services is not None
            await cycles_of(1, bot.services.poller_health, timeout=60)
            await bot.services.publisher.delivered()
            created: dict[str, float] = {}
            for _ in range(REQUESTS):
                request = state.add_request("1001", {"Amount": 5}, "dave")
                created[request.id] = time.monotonic()
                if hooked:
                    body = {"workflowId": "1001", "requestId": request.id}
                    async with http.post(f"{bot.url}/cflow/hook/{SECRET}", json=body) as answer:
                        assert answer.status == 202
                await asyncio.sleep(SPACING)
            posted = await _cards(slack, set(created), timeout=INTERVAL * 2)
    finally:
        await slack.stop()
        await runner.cleanup()
    return [posted[rid] - created[rid] for rid in created]


async def _cards(slack: SlackStandIn, wanted: set[str], timeout: float) -> dict[str, float]:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, float] = {}
        for call in slack.calls("chat.postMessage"):
            payload = (call.params.get("metadata") or {}).get("event_payload") or {}
            if call.failed or payload.get("kind") != "channel":
                continue
            if payload.get("request_id") in wanted:
                found.setdefault(payload["request_id"], call.time)
        if wanted <= found.keys():
            return found
        assert time.monotonic() < deadline, f"{len(wanted - found.keys())} cards never came"
        await asyncio.sleep(0.1)
