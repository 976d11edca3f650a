"""How long approvals take, from the bot's own record of stage visits (pure).

Per workflow and stage: how many visits were decided in the window, and the median and
90th percentile of their time from arrival to decision; and the requests waiting
longest now. No Cflow call: the visits are what the bot saw (bot.sync.stage_visits).
"""

from __future__ import annotations

import csv
import heapq
import io
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.store.records import PolicyChange, StageVisit

DECIDED = frozenset({"moved", "approved", "rejected", "completed", "reassigned"})
LONGEST_SHOWN = 5


@dataclass(frozen=True)
class StageFigures:
    workflow_id: str
    workflow_name: str
    stage_name: str
    decided: int
    median_seconds: float
    p90_seconds: float


def stage_figures(visits: Iterable[StageVisit], since: datetime) -> list[StageFigures]:
    """Decided visits that ended since `since`, per workflow and stage (in process order
    of first arrival), with the median and 90th percentile of their waits."""
    waits: dict[tuple[str, str], list[float]] = defaultdict(list)
    names: dict[tuple[str, str], str] = {}
    for visit in visits:
        if visit.left_at is None or visit.left_at < since or visit.outcome not in DECIDED:
            continue
        where = (visit.workflow_id, visit.stage_name or visit.stage or "?")
        waits[where].append((visit.left_at - visit.arrived_at).total_seconds())
        names[where] = visit.workflow_name
    return [
        StageFigures(wf, names[(wf, stage)], stage, len(w), _median(w), percentile(w, 0.9))
        for (wf, stage), w in waits.items()
    ]


def waiting_longest(visits: Iterable[StageVisit], count: int = LONGEST_SHOWN) -> list[StageVisit]:
    """The open visits that arrived first."""
    return sorted((v for v in visits if v.left_at is None), key=lambda v: v.arrived_at)[:count]


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value with `share` of them at or below."""
    ordered = sorted(values)
    rank = max(1, -(-int(share * 1000) * len(ordered) // 1000))  # ceil, without floats
    return ordered[min(rank, len(ordered)) - 1]


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


CSV_COLUMNS = (
    "workflow_id",
    "workflow",
    "request_id",
    "title",
    "submitted_by",
    "stage",
    "reviewers",
    "arrived_at",
    "left_at",
    "outcome",
    "decided_by",
    "waited_hours",
    "kind",  # last, so that the columns before it keep their places: "stage" or "policy"
)


def decision_log_csv(
    visits: Iterable[StageVisit],
    changes: Iterable[PolicyChange] = (),
    names: Mapping[str, str] | None = None,
) -> str:
    """Every visit as a CSV row, and every policy change merged in by time (text from
    Cflow kept as it is; a spreadsheet formula is defused with a leading quote).

    A change's row has its workflow, its time as `arrived_at`, "policy: <setting> =
    <value>" as `outcome` and the admin's Slack id as `decided_by`; its workflow's name
    is the visits' or else `names`' (the routes')."""
    visits = list(visits)
    known = {**(names or {}), **{v.workflow_id: v.workflow_name for v in visits}}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    rows = heapq.merge(
        ((v.arrived_at, _visit_row(v)) for v in visits),
        ((c.at, _change_row(c, known.get(c.workflow_id, ""))) for c in changes),
        key=lambda timed: timed[0],
    )
    for _, row in rows:
        writer.writerow([_defused(str(cell)) for cell in row])
    return out.getvalue()


def _visit_row(v: StageVisit) -> list[str]:
    waited = (v.left_at - v.arrived_at).total_seconds() / 3600 if v.left_at else None
    return [
        v.workflow_id,
        v.workflow_name,
        v.request_id,
        v.title or "",
        v.submitted_by or "",
        v.stage_name or v.stage or "",
        " ".join(v.reviewers),
        v.arrived_at.isoformat(),
        v.left_at.isoformat() if v.left_at else "",
        v.outcome or "",
        v.decided_by or "",
        f"{waited:.2f}" if waited is not None else "",
        "stage",
    ]


def _change_row(c: PolicyChange, workflow_name: str) -> list[str]:
    when = c.at.isoformat()
    outcome = f"policy: {c.setting} = {c.value}"
    return [c.workflow_id, workflow_name, *[""] * 5, when, "", outcome, c.changed_by, "", "policy"]


def _defused(cell: str) -> str:
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell
