"""What the Cflow stand-in holds: its records (roles, users, workflows with their stages,
requests with their history) and what it keeps for tests (calls, injected failures;
logged and queued as the Slack stand-in's are, by bot/devtools/faults.py).

Plain data; the rules that change it are in state.py.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

REQUEST_STATUSES = ("draft", "pending", "approved", "rejected", "completed")
WORKFLOW_STATUSES = ("active", "inactive", "draft")
ADMIN_ROLE = "Admin"
SYSTEM_ACTOR = "sandbox"
FIRST_REQUEST_ID = 101
OPERATION_IDS = (
    "getWorkflows",
    "getWorkflow",
    "listRequests",
    "createRequest",
    "getRequest",
    "updateRequest",
    "deleteRequest",
    "approveRequest",
    "rejectRequest",
    "createDraftRequest",
    "listUsers",
    "listRoles",
)
ONE_TICK = timedelta(microseconds=1)
NO_BODY = object()  # write_answers: succeed with 204 and no body


def utc_now() -> datetime:
    """Default clock; injectable so seeds and tests can pin time."""
    return datetime.now(UTC)


class SandboxError(Exception):
    """A refusal the HTTP layer turns into `status` with a JSON message."""

    def __init__(self, status: int, message: str, errors: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = dict(errors) if errors else None


@dataclass
class SandboxRole:
    """A Cflow role; permissions are free-form levels per area."""

    id: str
    name: str
    permissions: dict[str, str]


@dataclass
class SandboxUser:
    """A Cflow account with the user key it authenticates with."""

    id: str
    username: str
    email: str
    role: str
    user_key: str
    status: str = "active"

    @property
    def key(self) -> str:
        """Short alias of `user_key` (the `userkey` header value)."""
        return self.user_key

    @property
    def is_admin(self) -> bool:
        """Admins may list users/roles and act on other people's requests."""
        return self.role == ADMIN_ROLE


@dataclass
class SandboxStage:
    """One approval step; `reviewers` are usernames."""

    id: str
    name: str
    order: int
    reviewers: list[str]


@dataclass
class SandboxWorkflow:
    """A workflow definition; `required_fields` drives createRequest validation."""

    id: str
    name: str
    description: str
    status: str
    stages: list[SandboxStage]
    created_at: datetime
    updated_at: datetime
    required_fields: list[str] = field(default_factory=list)

    def ordered_stages(self) -> list[SandboxStage]:
        """Stages in the order requests travel through them."""
        return sorted(self.stages, key=lambda stage: stage.order)

    def first_stage(self) -> SandboxStage | None:
        """Where a freshly submitted request lands (None: completes at once)."""
        ordered = self.ordered_stages()
        return ordered[0] if ordered else None

    def stage(self, stage_id: str | None) -> SandboxStage | None:
        """Look a stage up by id."""
        return next((stage for stage in self.stages if stage.id == stage_id), None)

    def next_stage(self, stage_id: str) -> SandboxStage | None:
        """The stage after `stage_id`, or None when it was the last."""
        ordered = self.ordered_stages()
        ids = [stage.id for stage in ordered]
        index = ids.index(stage_id)
        return ordered[index + 1] if index + 1 < len(ordered) else None


@dataclass
class HistoryEntry:
    """One event in a request's life, rendered as the `history` extra."""

    stage: str | None
    stage_name: str | None
    action: str
    by: str
    at: datetime
    comment: str | None = None
    reassigned_to: str | None = None


@dataclass
class SandboxRequest:
    """A workflow request; `current_stage` is a stage id, set only while pending."""

    id: str
    workflow_id: str
    status: str
    fields: dict[str, Any]
    submitted_by: str
    created_at: datetime
    updated_at: datetime
    current_stage: str | None = None
    current_reviewers: list[str] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)


@dataclass
class CallRecord:
    """One API call as seen by the sandbox, for assertions in tests."""

    operation: str
    method: str
    path: str
    username: str | None
    body: Any
    status: int
    time: float = field(default_factory=time.monotonic)

    @property
    def name(self) -> str:
        """The operation called, as the shared call log names calls."""
        return self.operation


@dataclass(frozen=True)
class InjectedFailure:
    """What a call a queued `fail_next` picks is answered: `status`, with `Retry-After`
    if given."""

    status: int
    retry_after: float | str | None = None
