"""Deterministic demo data for the sandbox, and a printable summary of its credentials."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.devtools.cflow_standin.records import SandboxUser, utc_now
from bot.devtools.cflow_standin.state import SandboxState

DEMO_API_KEY = "sandbox-api-key"
SERVICE_ACCOUNT = "cflow-bot"
DEFAULT_ANCHOR = datetime(2025, 6, 16, 9, 0, tzinfo=UTC)
DEFAULT_BASE_URL = "http://127.0.0.1:8080"
MAX_STAGES_LISTED = 5

ROLES: dict[str, dict[str, str]] = {
    "Admin": {"workflows": "full", "lookups": "full", "reports": "full", "support": "full"},
    "Manager": {"workflows": "approve", "lookups": "view", "reports": "view", "support": "basic"},
    "Finance": {"workflows": "approve", "lookups": "edit", "reports": "full", "support": "basic"},
    "Employee": {"workflows": "submit", "lookups": "view", "reports": "none", "support": "basic"},
}

USERS: tuple[tuple[str, str, str, str], ...] = (
    ("alice", "Admin", "alice-key", "active"),
    ("bob", "Manager", "bob-key", "active"),
    ("carol", "Finance", "carol-key", "active"),
    ("dave", "Employee", "dave-key", "active"),
    ("erin", "Employee", "erin-key", "inactive"),
    (SERVICE_ACCOUNT, "Admin", "cflow-bot-key", "active"),
)


@dataclass
class _Timeline:
    """A settable clock so seeded events get fixed, plausible timestamps."""

    moment: datetime

    def now(self) -> datetime:
        """The clock function handed to the state while seeding."""
        return self.moment


def demo_state(*, seed: int = 0, now: datetime | None = None) -> SandboxState:
    """The demo account; identical for equal `seed`/`now` (`now` anchors the dates)."""
    anchor = now or DEFAULT_ANCHOR
    timeline = _Timeline(anchor - timedelta(days=120))
    state = SandboxState(api_key=DEMO_API_KEY, rng=random.Random(seed), clock=timeline.now)
    _add_directory(state)
    _add_workflows(state)
    _add_requests(state, timeline, anchor)
    state.clock = utc_now
    return state


def _add_directory(state: SandboxState) -> None:
    """Roles, then the people (and the bot's service account)."""
    for name, permissions in ROLES.items():
        state.add_role(name, permissions)
    for username, role, key, status in USERS:
        state.add_user(username, role, key, status=status)


def _add_workflows(state: SandboxState) -> None:
    """Three active workflows and one switched off."""
    state.add_workflow(
        "1001",
        "Expense Claim",
        [("Manager approval", ["bob"])],
        description="Reimbursement of out-of-pocket business expenses.",
    )
    state.add_workflow(
        "1002",
        "Purchase Order",
        [
            ("Manager review", ["bob"]),
            ("Finance review", ["carol"]),
            ("Director approval", ["alice"]),
        ],
        description="Purchases from external vendors.",
        required_fields=["Vendor", "Amount"],
    )
    state.add_workflow(
        "1003",
        "Leave Request",
        [("Team lead", ["bob", "alice"])],
        description="Annual, sick and unpaid leave.",
    )
    state.add_workflow(
        "1004",
        "Vendor Onboarding",
        [("Procurement review", ["carol"])],
        description="Registering a new supplier (retired).",
        status="inactive",
    )


def _add_requests(state: SandboxState, timeline: _Timeline, anchor: datetime) -> None:
    """dave's requests in various states, each event at its own moment."""
    for days_ago, action in _request_script(anchor):
        timeline.moment = anchor - timedelta(days=days_ago)
        action(state)


def _request_script(anchor: datetime) -> list[tuple[float, Callable[[SandboxState], Any]]]:
    """(days before the anchor, event) pairs, oldest first; ids come out 101..107."""
    day = _day_formatter(anchor)
    return [
        (9, lambda s: s.add_request("1001", _team_lunch(), "dave")),
        (8.9, lambda s: s.approve("1001", "101", "bob", "Thanks for organising.")),
        (6, lambda s: s.add_request("1002", _laptops(day), "dave")),
        (5.2, lambda s: s.approve("1002", "102", "bob", "Budget confirmed with the team lead.")),
        (4, lambda s: s.add_request("1001", _taxi(day), "dave")),
        (3, lambda s: s.add_request("1002", _office_supplies(), "dave")),
        (2, lambda s: s.add_request("1003", _leave(day), "dave")),
        (1, lambda s: s.add_request("1001", _conference(day), "dave")),
        (0.5, lambda s: s.add_request("1002", _software_draft(), "dave", status="draft")),
    ]


def add_policy_orders(state: SandboxState, *, now: datetime) -> None:
    """Two more purchase orders for the playground's demo policy, made in the half day
    before `now` (after `demo_state`'s last event): 108, dave's order of 18,500, past
    bob and carol and now at Director approval (alice), over the web-only limit; 109,
    carol's own order of 1,850, past bob and now at her Finance review, where the policy
    blocks self-approval. Not part of `demo_state`: the tests' sandbox keeps its seven."""
    timeline = _Timeline(now)
    state.clock = timeline.now
    try:
        for days_ago, action in _policy_script():
            timeline.moment = now - timedelta(days=days_ago)
            action(state)
    finally:
        state.clock = utc_now


def _policy_script() -> list[tuple[float, Callable[[SandboxState], Any]]]:
    """(days before now, event) pairs, oldest first; ids come out 108 and 109."""
    return [
        (0.45, lambda s: s.add_request("1002", _servers(), "dave")),
        (0.4, lambda s: s.approve("1002", "108", "bob", "Needed for the new region.")),
        (0.35, lambda s: s.approve("1002", "108", "carol", "Within the hardware budget.")),
        (0.3, lambda s: s.add_request("1002", _accounting_software(), "carol")),
        (0.25, lambda s: s.approve("1002", "109", "bob")),
    ]


def _servers() -> dict[str, Any]:
    """Request 108 (Purchase Order, at Director approval: over the web-only limit)."""
    return {
        "Vendor": "Dell Technologies",
        "Amount": 18500.0,
        "Currency": "USD",
        "Description": "2x PowerEdge R760 servers for the new region",
    }


def _accounting_software() -> dict[str, Any]:
    """Request 109 (Purchase Order by carol, at her own Finance review)."""
    return {
        "Vendor": "Intuit",
        "Amount": 1850.0,
        "Currency": "USD",
        "Description": "QuickBooks licences for the finance team",
    }


def _day_formatter(anchor: datetime) -> Callable[[int], str]:
    """Dates in field values, relative to the anchor, as YYYY-MM-DD."""
    return lambda offset: (anchor + timedelta(days=offset)).date().isoformat()


def _team_lunch() -> dict[str, Any]:
    """Request 101 (approved)."""
    return {"Amount": 42.0, "Currency": "USD", "Description": "Team lunch after the Q2 demo"}


def _laptops(day: Callable[[int], str]) -> dict[str, Any]:
    """Request 102 (Purchase Order, at Finance review)."""
    return {
        "Vendor": "Dell Technologies",
        "Amount": 4320.0,
        "Currency": "USD",
        "Description": "3x Latitude 7450 laptops for new hires",
        "Needed By": day(14),
    }


def _taxi(day: Callable[[int], str]) -> dict[str, Any]:
    """Request 103."""
    return {
        "Amount": 84.5,
        "Currency": "USD",
        "Description": "Taxi to client site (Acme Corp)",
        "Expense Date": day(-5),
    }


def _office_supplies() -> dict[str, Any]:
    """Request 104 (Purchase Order, at Manager review)."""
    return {
        "Vendor": "Staples",
        "Amount": 312.4,
        "Currency": "USD",
        "Description": "Office supplies for Q3",
    }


def _leave(day: Callable[[int], str]) -> dict[str, Any]:
    """Request 105."""
    return {
        "Leave Type": "Annual",
        "Start Date": day(28),
        "End Date": day(32),
        "Days": 5,
        "Description": "Family holiday",
    }


def _conference(day: Callable[[int], str]) -> dict[str, Any]:
    """Request 106."""
    return {
        "Amount": 1240.0,
        "Currency": "USD",
        "Description": "PyCon US registration and hotel",
        "Expense Date": day(-2),
    }


def _software_draft() -> dict[str, Any]:
    """Request 107 (draft: the Amount is still missing)."""
    return {"Vendor": "Adobe", "Description": "Creative Cloud licence for the design team"}


# -- credentials text -------------------------------------------------------------------


def describe_credentials(state: SandboxState, base_url: str = DEFAULT_BASE_URL) -> str:
    """Human-readable credentials plus env lines to point the bot at the sandbox."""
    service = state.users.get(SERVICE_ACCOUNT)
    lines = [
        "Cflow sandbox (demo data; these keys are not secret)",
        f"  API key: {state.api_key}",
        "",
        "Users:",
        *(_describe_user(state, user) for user in state.users.values()),
        "",
        "Environment for the bot:",
        f"  CFLOW_BASE_URL={base_url}",
        f"  CFLOW_API_KEY={state.api_key}",
        f"  CFLOW_USERNAME={SERVICE_ACCOUNT}",
        f"  CFLOW_USER_KEY={service.user_key if service else 'cflow-bot-key'}",
    ]
    return "\n".join(lines)


def _describe_user(state: SandboxState, user: SandboxUser) -> str:
    """One line per user: who they are, their key and what they review."""
    inactive = "  [inactive account]" if user.status != "active" else ""
    stages = _reviewed_stages(state, user.username)
    reviews = ", ".join(stages[:MAX_STAGES_LISTED]) or "nothing"
    if len(stages) > MAX_STAGES_LISTED:
        reviews += f" and {len(stages) - MAX_STAGES_LISTED} more"
    return (
        f"  {user.username:<10} {user.role:<9} {user.email:<24} key={user.user_key:<14}"
        f" reviews: {reviews}{inactive}"
    )


def _reviewed_stages(state: SandboxState, username: str) -> list[str]:
    """'Workflow / Stage' labels for every stage `username` reviews."""
    return [
        f"{workflow.name} / {stage.name}"
        for workflow in state.workflows.values()
        for stage in workflow.ordered_stages()
        if username in stage.reviewers
    ]
