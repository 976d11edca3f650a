"""What a steady poll cycle costs the bot's process, against only downloading its listings.

The sandbox runs in a process of its own with 50 workflows of 5,000 requests each (5
pending, the rest decided), or 50 of 50; 20 ms a call. For 20 steady cycles: wall time,
the CPU seconds of the bot's process (`time.process_time`), and peak RSS; with every
listing unchanged, and with one workflow's listing changed each cycle (a decided
request added). The floor is a bare aiohttp client in this process downloading the same
listings at the same concurrency and doing nothing with them. Run with the command in
the README's Performance section.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp

from bot.devtools.slack_standin.slack import SlackStandIn
from bot.runtime.server import make_poller
from bot.runtime.services import build_services
from bot.sync.poller import POLL_CONCURRENCY
from tests.benchmarks.harness import (
    SandboxProcess,
    bot_settings,
    median,
    peak_rss_mb,
    report,
    sandbox_process,
)

LATENCY = 0.02
WORKFLOWS = 50
PENDING = 5
CYCLES = 20
ACCEPTED_CPU_RATIO = 1.5
API = "/integromat/api/cflow"
HEADERS = {"apikey": "sandbox-api-key", "username": "cflow-bot", "userkey": "cflow-bot-key"}


async def test_a_steady_cycle_costs_what_changed(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    rows: dict[str, Any] = {}
    for per_workflow in (50, 5_000):
        for changing in (False, True):
            folder = tmp_path / f"{per_workflow}-{changing}"
            folder.mkdir()
            got = await measure(http, folder, per_workflow, changing=changing)
            label = f"50 x {per_workflow:,}, {'one workflow changed' if changing else 'unchanged'}"
            rows[f"{label}: wall s (median)"] = median(got["wall"])
            rows[f"{label}: bot CPU s (median)"] = median(got["cpu"])
            rows[f"{label}: download-only CPU s (median)"] = median(got["floor"])
            rows[f"{label}: bot / download-only CPU"] = median(got["cpu"]) / median(got["floor"])
            rows[f"{label}: peak RSS after 2 / {CYCLES} cycles, MB"] = (
                f"{got['rss'][2]:.1f} / {got['rss'][CYCLES]:.1f}"
            )
            rows[f"{label}: MiB downloaded per cycle"] = got["bytes"] / 2**20
            if per_workflow == 5_000 and not changing:
                unchanged = got
    report("steady poll cycles: the bot's CPU against only downloading", rows)
    ratio = median(unchanged["cpu"]) / median(unchanged["floor"])
    assert ratio <= ACCEPTED_CPU_RATIO, f"{ratio:.2f} x the download's CPU"
    assert unchanged["rss"][CYCLES] <= unchanged["rss"][2] * 1.05, "memory stays flat"


async def measure(
    http: aiohttp.ClientSession, tmp: Path, per_workflow: int, *, changing: bool
) -> dict[str, Any]:
    async with sandbox_process(http) as sandbox, SlackStandIn() as slack:
        made = await sandbox.control(
            "POST",
            "populate",
            workflows=WORKFLOWS,
            requestsPerWorkflow=per_workflow,
            pendingPerWorkflow=PENDING,
        )
        await sandbox.control("POST", "config", latency=LATENCY)
        settings = bot_settings(sandbox.url, slack, tmp, cflow_poll_interval=60)
        services = await build_services(settings)
        try:
            poller = make_poller(services)
            await poller.cycle()
            await services.publisher.delivered()
            await poller.cycle()  # what the first cycle posted is tracked from now on
            wall, cpu, floor, rss = [], [], [], {}
            for number in range(1, CYCLES + 1):
                if changing:
                    await _decided_request(sandbox, made["workflowIds"][0])
                started, used = time.monotonic(), time.process_time()
                await poller.cycle()
                cpu.append(time.process_time() - used)
                wall.append(time.monotonic() - started)
                if number in (2, CYCLES):
                    rss[number] = peak_rss_mb()
                size, spent = await _download_only(http, sandbox, made["workflowIds"])
                floor.append(spent)
            return {"wall": wall, "cpu": cpu, "floor": floor, "rss": rss, "bytes": size}
        finally:
            await services.close()


async def _decided_request(sandbox: SandboxProcess, workflow_id: str) -> None:
    body = {"workflowId": workflow_id, "submittedBy": "dave", "status": "approved"}
    await sandbox.control("POST", "requests", **body, fields={"Amount": 1})


async def _download_only(
    http: aiohttp.ClientSession, sandbox: SandboxProcess, workflow_ids: list[str]
) -> tuple[int, float]:
    """The floor: the same calls, read and thrown away; (bytes, CPU seconds)."""
    slots = asyncio.Semaphore(POLL_CONCURRENCY)
    used = time.process_time()

    async def fetch(path: str) -> int:
        async with slots, http.get(sandbox.url + path, headers=HEADERS) as response:
            return len(await response.read())

    size = await fetch(f"{API}/getworkflows")
    sizes = await asyncio.gather(*(fetch(f"{API}/workflows/{w}/requests") for w in workflow_ids))
    return size + sum(sizes), time.process_time() - used
