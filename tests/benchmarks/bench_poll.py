"""Poll-cycle benchmarks: speed against the ideal, store queries, memory, growth.

Run with the command in the README's Performance section; not part of the test run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp

from bot.devtools.slack_standin.slack import SlackStandIn
from bot.runtime.server import make_poller
from bot.runtime.services import build_services
from bot.sync.poller import POLL_CONCURRENCY
from tests.benchmarks.harness import (
    QueryCounter,
    SandboxProcess,
    bot_settings,
    median,
    peak_rss_mb,
    report,
    sandbox_process,
)

LATENCY = 0.02  # seconds per Cflow call
REQUESTS_PER_WORKFLOW = 50
PENDING_PER_WORKFLOW = 5
CONCURRENCY = POLL_CONCURRENCY


async def measure(
    http: aiohttp.ClientSession, tmp: Path, workflows: int, cycles: int
) -> dict[str, Any]:
    async with sandbox_process(http) as sandbox, SlackStandIn() as slack:
        await sandbox.control(
            "POST",
            "populate",
            workflows=workflows,
            requestsPerWorkflow=REQUESTS_PER_WORKFLOW,
            pendingPerWorkflow=PENDING_PER_WORKFLOW,
        )
        await sandbox.control("POST", "config", latency=LATENCY)
        services = await build_services(
            bot_settings(sandbox.url, slack, tmp, cflow_poll_interval=60)
        )
        try:
            return await _cycles(services, sandbox, slack, cycles)
        finally:
            await services.close()


async def _cycles(services: Any, sandbox: SandboxProcess, slack: SlackStandIn, cycles: int) -> dict:
    poller, queries = make_poller(services), QueryCounter(services.store)
    started = time.monotonic()
    first = await poller.cycle()
    cold: dict[str, Any] = {"seconds": time.monotonic() - started}
    await services.publisher.delivered()  # after the cycle, at Slack's pace
    cold |= {"delivered": time.monotonic() - started, "queries": queries.take()}
    cold["cards"] = len(slack.calls("chat.postMessage"))
    await sandbox.control("DELETE", "calls")
    steady, per_cycle_queries, rss = [], [], {}
    for number in range(2, cycles + 1):
        started = time.monotonic()
        await poller.cycle()
        steady.append(time.monotonic() - started)
        per_cycle_queries.append(queries.take())
        if number in (2, cycles):
            rss[number] = peak_rss_mb()
    calls = len(await sandbox.calls()) / (cycles - 1)
    return {
        "first": first,
        "cold": cold,
        "steady": steady,
        "queries": per_cycle_queries,
        "rss": rss,
        "calls": calls,
    }


async def test_poll_cycle_1000_workflows(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    cycles = 20
    got = await measure(http, tmp_path, 1000, cycles)
    cycle = median(got["steady"])
    sequential = got["calls"] * LATENCY
    ideal = got["calls"] / CONCURRENCY * LATENCY
    report(
        f"poll cycle: 1,000 workflows x {REQUESTS_PER_WORKFLOW} requests "
        f"({got['first'].pending} pending), {LATENCY * 1000:.0f} ms per Cflow call",
        {
            "first cycle (records every change), s": got["cold"]["seconds"],
            "first cycle's delivery done (a summary: all 5,005 are one burst), s": got["cold"][
                "delivered"
            ],
            "messages posted for the first cycle": got["cold"]["cards"],
            "store queries in the first cycle": got["cold"]["queries"],
            "Cflow calls per cycle": got["calls"],
            "steady cycle, median s": cycle,
            "sequential sum of its calls, s": sequential,
            "ideal calls/concurrency x latency, s": ideal,
            "cycle / ideal (target <= 1.5)": cycle / ideal,
            "speed-up over sequential (target >= 10)": sequential / cycle,
            "store queries per steady cycle (min-max)": (
                f"{min(got['queries'])}-{max(got['queries'])}"
            ),
            "peak RSS after 2 cycles, MB": got["rss"][2],
            f"peak RSS after {cycles} cycles, MB": got["rss"][cycles],
            "RSS growth (target <= 5 %)": f"{(got['rss'][cycles] / got['rss'][2] - 1) * 100:.1f} %",
        },
    )
    assert max(got["queries"]) <= 8, "store queries must not grow with requests"


async def test_cost_grows_linearly(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    rows: dict[str, Any] = {}
    per_workflow: list[float] = []
    for workflows in (100, 1000, 5000):
        folder = tmp_path / str(workflows)
        folder.mkdir()
        got = await measure(http, folder, workflows, 4)
        cycle = median(got["steady"])
        per_workflow.append(cycle / workflows)
        rows[f"{workflows} workflows: steady cycle s"] = cycle
        rows[f"{workflows} workflows: ms per workflow"] = cycle / workflows * 1000
        rows[f"{workflows} workflows: store queries per cycle"] = max(got["queries"])
    rows["per-workflow cost, 5,000 vs 100 (<= 1 means linear or better)"] = (
        per_workflow[-1] / per_workflow[0]
    )
    report("cost growth of a steady cycle", rows)
