"""In-memory domain of the Cflow sandbox: workflows, requests, users and test knobs.

Nothing here knows about HTTP; the server maps `SandboxError` to responses.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.devtools.cflow_standin.records import (
    FIRST_REQUEST_ID,
    ONE_TICK,
    REQUEST_STATUSES,
    SYSTEM_ACTOR,
    WORKFLOW_STATUSES,
    CallRecord,
    HistoryEntry,
    InjectedFailure,
    SandboxError,
    SandboxRequest,
    SandboxRole,
    SandboxStage,
    SandboxUser,
    SandboxWorkflow,
    utc_now,
)
from bot.devtools.faults import CallLog, FaultQueue, anywhere


@dataclass
class SandboxState:
    """Everything the sandbox knows, plus the knobs tests turn."""

    api_key: str = "sandbox-api-key"
    users: dict[str, SandboxUser] = field(default_factory=dict)
    roles: dict[str, SandboxRole] = field(default_factory=dict)
    workflows: dict[str, SandboxWorkflow] = field(default_factory=dict)
    requests: dict[str, dict[str, SandboxRequest]] = field(default_factory=dict)
    latency: float = 0.0
    delay_after_commit: float = 0.0
    failure_rate: float = 0.0
    text_errors: bool = False
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], datetime] = utc_now
    calls: CallLog[CallRecord] = field(default_factory=CallLog)
    version: int = 0
    listing_cache: dict[tuple[str, str], tuple[int, bytes]] = field(default_factory=dict)
    failures: FaultQueue[InjectedFailure] = field(default_factory=FaultQueue)
    # operationId -> the body a success answers with instead of the record (NO_BODY: 204);
    # the spec's response bodies are loose, and a real Cflow may send any of these.
    write_answers: dict[str, Any] = field(default_factory=dict)
    # (username, operationId or None for all) -> answered 403 whatever the state says
    denials: set[tuple[str, str | None]] = field(default_factory=set)
    # (workflow id, request id) left out of listRequests, though getRequest still finds them
    unlisted: set[tuple[str, str]] = field(default_factory=set)
    _next_request_id: int = field(default=FIRST_REQUEST_ID, init=False, repr=False)
    _used_request_ids: set[str] = field(default_factory=set, init=False, repr=False)
    _last_tick: datetime = field(default=datetime.min.replace(tzinfo=UTC), init=False)

    # -- time and bookkeeping -------------------------------------------------

    def tick(self) -> datetime:
        """A strictly increasing timestamp, so every change moves updatedAt."""
        now = self.clock()
        if now <= self._last_tick:
            now = self._last_tick + ONE_TICK
        self._last_tick = now
        return now

    def _touch(self, request: SandboxRequest, at: datetime) -> None:
        """Mark a request changed; `version` lets the server see commits."""
        request.updated_at = at
        self.version += 1

    # -- directory: users, roles, workflows -----------------------------------

    def add_role(
        self, name: str, permissions: Mapping[str, str], *, role_id: str = ""
    ) -> SandboxRole:
        """Define a role (ids default to a running number)."""
        role = SandboxRole(role_id or str(len(self.roles) + 1), name, dict(permissions))
        self.roles[name] = role
        return role

    def add_user(
        self, username: str, role: str, key: str, *, email: str = "", status: str = "active"
    ) -> SandboxUser:
        """Create an account; the email defaults to username@example.com."""
        user_id = str(len(self.users) + 1)
        user = SandboxUser(user_id, username, email or f"{username}@example.com", role, key, status)
        self.users[username] = user
        return user

    def add_workflow(
        self,
        workflow_id: str,
        name: str,
        stages: Sequence[tuple[str, Sequence[str]]] = (),
        *,
        description: str = "",
        status: str = "active",
        required_fields: Iterable[str] = (),
        created_at: datetime | None = None,
    ) -> SandboxWorkflow:
        """Define a workflow from (stage name, reviewers) pairs, in order."""
        _check_choice(status, WORKFLOW_STATUSES, "workflow status")
        built = [
            SandboxStage(f"{workflow_id}-{order}", stage_name, order, list(reviewers))
            for order, (stage_name, reviewers) in enumerate(stages, start=1)
        ]
        at = created_at or self.tick()
        workflow = SandboxWorkflow(
            workflow_id, name, description, status, built, at, at, list(required_fields)
        )
        self.workflows[workflow_id] = workflow
        self.requests.setdefault(workflow_id, {})
        self.version += 1
        return workflow

    def authenticate(
        self, api_key: str | None, username: str | None, user_key: str | None
    ) -> SandboxUser:
        """Resolve the three auth headers to an active user, or refuse with 401."""
        user = self.users.get(username or "")
        if (
            user is None
            or user.status != "active"
            or (api_key, user_key) != (self.api_key, user.user_key)
        ):
            raise SandboxError(401, "Invalid API key or user credentials")
        return user

    def require_admin(self, user: SandboxUser) -> None:
        """Directory listings are admin-only, as in Cflow."""
        if not user.is_admin:
            raise SandboxError(403, "Admin access required")

    def is_admin(self, username: str) -> bool:
        """Whether `username` names an admin account."""
        user = self.users.get(username)
        return user is not None and user.is_admin

    def get_workflow(self, workflow_id: str) -> SandboxWorkflow:
        """A workflow by id, or 404."""
        workflow = self.workflows.get(workflow_id)
        if workflow is None:
            raise SandboxError(404, f"Workflow {workflow_id} not found")
        return workflow

    def list_workflows(self) -> list[SandboxWorkflow]:
        """All workflows, whatever their status."""
        return list(self.workflows.values())

    # -- reading requests -----------------------------------------------------

    def get_request(
        self, workflow_id: str, request_id: str, username: str | None = None
    ) -> SandboxRequest:
        """A request, or 404; with `username`, other people's drafts stay hidden."""
        self.get_workflow(workflow_id)
        request = self.requests[workflow_id].get(request_id)
        if request is None or not _visible(request, username):
            raise SandboxError(404, f"Request {request_id} not found")
        return request

    def list_requests(self, workflow_id: str, username: str | None = None) -> list[SandboxRequest]:
        """Requests visible to `username`, oldest first."""
        self.get_workflow(workflow_id)
        visible = [
            r
            for r in self.requests[workflow_id].values()
            if _visible(r, username) and (workflow_id, r.id) not in self.unlisted
        ]
        return sorted(visible, key=lambda request: request.created_at)

    # -- creating requests ----------------------------------------------------

    def add_request(
        self,
        workflow_id: str,
        fields: Mapping[str, Any],
        submitted_by: str,
        *,
        status: str = "pending",
        stage_id: str | None = None,
        request_id: str | None = None,
        created_at: datetime | None = None,
    ) -> SandboxRequest:
        """Put a request in place directly (new work arriving, or test setup)."""
        workflow = self.get_workflow(workflow_id)
        _check_choice(status, REQUEST_STATUSES, "status")
        rid = self._claim_request_id(workflow_id, request_id)
        at = created_at or self.tick()
        request = SandboxRequest(rid, workflow_id, "draft", dict(fields), submitted_by, at, at)
        if status != "draft":
            request.history.append(HistoryEntry(None, None, "submitted", submitted_by, at))
        self._place(request, workflow, status, stage_id)
        self.requests[workflow_id][rid] = request
        self.version += 1
        return request

    def create_request(
        self, workflow_id: str, fields: Mapping[str, Any], username: str, *, draft: bool = False
    ) -> SandboxRequest:
        """createRequest / createDraftRequest: validate, then submit or save."""
        workflow = self.get_workflow(workflow_id)
        if workflow.status != "active":
            raise SandboxError(400, f"Workflow '{workflow.name}' is not active")
        if not draft:
            _check_required(workflow, fields)
        return self.add_request(
            workflow_id, fields, username, status="draft" if draft else "pending"
        )

    def _claim_request_id(self, workflow_id: str, forced: str | None) -> str:
        """Next global id, or the forced one if it is free in this workflow."""
        if forced is not None:
            if forced in self.requests[workflow_id]:
                raise SandboxError(
                    409, f"Request {forced} already exists in workflow {workflow_id}"
                )
            self._used_request_ids.add(forced)
            return forced
        while str(self._next_request_id) in self._used_request_ids:
            self._next_request_id += 1
        rid = str(self._next_request_id)
        self._used_request_ids.add(rid)
        return rid

    def _place(
        self, request: SandboxRequest, workflow: SandboxWorkflow, status: str, stage_id: str | None
    ) -> None:
        """Set status and, for pending, the stage (a stageless workflow completes)."""
        if status != "pending":
            _leave_stages(request, status)
            return
        stage = self._resolve_stage(workflow, stage_id or request.current_stage)
        if stage is None:
            _leave_stages(request, "completed")
            return
        _enter_stage(request, stage)

    @staticmethod
    def _resolve_stage(workflow: SandboxWorkflow, stage_id: str | None) -> SandboxStage | None:
        """The named stage (400 if unknown), else the workflow's first stage."""
        if stage_id is None:
            return workflow.first_stage()
        stage = workflow.stage(stage_id)
        if stage is None:
            raise SandboxError(400, f"Workflow {workflow.id} has no stage {stage_id}")
        return stage

    # -- changing requests ----------------------------------------------------

    def update_request(
        self, workflow_id: str, request_id: str, username: str, fields: Mapping[str, Any]
    ) -> SandboxRequest:
        """updateRequest: the submitter (or an admin) merges fields while open."""
        request = self.get_request(workflow_id, request_id, username)
        if username != request.submitted_by and not self.is_admin(username):
            raise SandboxError(400, f"Only the submitter can update request {request_id}")
        if request.status not in ("draft", "pending"):
            raise SandboxError(400, f"Request {request_id} is already {request.status}")
        at = self.tick()
        request.fields.update(fields)
        stage = self._current_stage(request)
        request.history.append(_entry(stage, "updated", username, at))
        self._touch(request, at)
        return request

    def delete_request(self, workflow_id: str, request_id: str, username: str) -> None:
        """deleteRequest: only the submitter or an admin; others get a 404."""
        request = self.get_request(workflow_id, request_id, username)
        if username != request.submitted_by and not self.is_admin(username):
            raise SandboxError(404, f"Request {request_id} not found or not yours to delete")
        self.delete(workflow_id, request_id)

    def delete(self, workflow_id: str, request_id: str) -> None:
        """Remove a request outright (someone deleted it in Cflow's web app)."""
        self.get_request(workflow_id, request_id)
        del self.requests[workflow_id][request_id]
        self.version += 1

    def set_status(
        self, workflow_id: str, request_id: str, status: str, *, stage_id: str | None = None
    ) -> SandboxRequest:
        """Force a status (someone acted in Cflow directly); pending may pick a stage."""
        _check_choice(status, REQUEST_STATUSES, "status")
        request = self.get_request(workflow_id, request_id)
        workflow = self.workflows[workflow_id]
        previous = self._current_stage(request)
        at = self.tick()
        self._place(request, workflow, status, stage_id)
        action = status if status in ("approved", "rejected") else "updated"
        request.history.append(
            _entry(previous, action, SYSTEM_ACTOR, at, f"Status set to {status}")
        )
        self._touch(request, at)
        return request

    def approve(
        self,
        workflow_id: str,
        request_id: str,
        username: str,
        comment: str | None = None,
        reassign_to: str | None = None,
    ) -> SandboxRequest:
        """Approve at the current stage (moving on), or hand it to `reassign_to`."""
        request, stage = self._actionable(workflow_id, request_id, username)
        if reassign_to is not None:
            return self._reassign(request, stage, username, reassign_to, comment)
        at = self.tick()
        request.history.append(_entry(stage, "approved", username, at, comment))
        following = self.workflows[workflow_id].next_stage(stage.id)
        if following is None:
            _leave_stages(request, "approved")
        else:
            _enter_stage(request, following)
        self._touch(request, at)
        return request

    def reject(
        self,
        workflow_id: str,
        request_id: str,
        username: str,
        comment: str | None = None,
        reassign_to: str | None = None,
    ) -> SandboxRequest:
        """Reject at the current stage, or hand it to `reassign_to`."""
        request, stage = self._actionable(workflow_id, request_id, username)
        if reassign_to is not None:
            return self._reassign(request, stage, username, reassign_to, comment)
        at = self.tick()
        request.history.append(_entry(stage, "rejected", username, at, comment))
        _leave_stages(request, "rejected")
        self._touch(request, at)
        return request

    def _actionable(
        self, workflow_id: str, request_id: str, username: str
    ) -> tuple[SandboxRequest, SandboxStage]:
        """The request and its stage, if `username` may act on it right now."""
        request = self.get_request(workflow_id, request_id, username)
        if request.status == "draft":
            raise SandboxError(400, f"Request {request_id} is a draft")
        stage = self._current_stage(request)
        if request.status != "pending" or stage is None:
            raise SandboxError(400, f"Request {request_id} is already {request.status}")
        if username not in request.current_reviewers:
            message = f"User {username} is not a reviewer of the current stage '{stage.name}'"
            raise SandboxError(400, message)
        return request, stage

    def _reassign(
        self,
        request: SandboxRequest,
        stage: SandboxStage,
        username: str,
        target: str,
        comment: str | None,
    ) -> SandboxRequest:
        """Keep the stage but make `target` its only reviewer."""
        user = self.users.get(target)
        if user is None or user.status != "active":
            raise SandboxError(400, f"Unknown user '{target}'", {"reassignTo": "Unknown user"})
        at = self.tick()
        entry = _entry(stage, "reassigned", username, at, comment)
        entry.reassigned_to = target
        request.history.append(entry)
        request.current_reviewers = [target]
        self._touch(request, at)
        return request

    def _current_stage(self, request: SandboxRequest) -> SandboxStage | None:
        """The stage object a pending request sits at."""
        return self.workflows[request.workflow_id].stage(request.current_stage)

    # -- knobs ----------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        status: int = 503,
        operation: str | None = None,
        retry_after: float | str | None = None,
        workflow_id: str | None = None,
    ) -> None:
        """Queue `count` canned failures (for one operationId / workflow, if given)."""
        failure = InjectedFailure(status, retry_after)
        self.failures.add(operation, failure, count, where=_about(workflow_id))

    def answer_writes_with(self, operation: str, body: Any) -> None:
        """Make successes of `operation` answer `body` (NO_BODY for an empty 204)."""
        self.write_answers[operation] = body

    def deny(self, username: str, operation: str | None = None) -> None:
        """Answer `username`'s calls (of one operation, or all) with 403."""
        self.denials.add((username, operation))

    def is_denied(self, username: str | None, operation: str) -> bool:
        return bool(username) and bool({(username, operation), (username, None)} & self.denials)

    def leave_out_of_listings(self, workflow_id: str, request_id: str, left_out: bool) -> None:
        """A listing that omits a record (the spec does not promise completeness)."""
        key = (workflow_id, request_id)
        self.unlisted = self.unlisted | {key} if left_out else self.unlisted - {key}
        self.version += 1

    def rotate_key(self, username: str, new_key: str) -> None:
        """The person changed their user key in Cflow: the old one stops working."""
        self.users[username].user_key = new_key

    def take_failure(
        self, operation: str, workflow_id: str | None = None
    ) -> InjectedFailure | None:
        """Consume the first queued failure that applies to this call."""
        return self.failures.take(operation, workflow_id)

    def roll_failure(self) -> bool:
        """Whether this call should fail at random, per `failure_rate`."""
        return self.failure_rate > 0 and self.rng.random() < self.failure_rate

    def record_call(self, record: CallRecord) -> None:
        """Append to the call log."""
        self.calls.record(record)

    def clear_calls(self) -> None:
        """Forget the call log (between test phases)."""
        self.calls.clear()

    # -- bulk data for benchmarks -----------------------------------------------

    def populate(
        self,
        workflows: int,
        requests_per_workflow: int,
        *,
        reviewer: str = "cflow-bot",
        submitted_by: str = "dave",
        pending: int | None = None,
    ) -> list[SandboxWorkflow]:
        """Add generated active 3-stage workflows with requests, the first `pending` of
        each workflow pending (all by default) and the rest already approved."""
        created = []
        for _ in range(workflows):
            workflow = self._generated_workflow(reviewer)
            for index in range(requests_per_workflow):
                waiting = pending is None or index < pending
                status = "pending" if waiting else "approved"
                self.add_request(workflow.id, self._generated_fields(), submitted_by, status=status)
            created.append(workflow)
        return created

    def _generated_workflow(self, reviewer: str) -> SandboxWorkflow:
        """One benchmark workflow with `reviewer` on every stage."""
        number = 5001 + len(self.workflows)
        while str(number) in self.workflows:
            number += 1
        stages = [(f"Level {level} approval", [reviewer]) for level in (1, 2, 3)]
        return self.add_workflow(str(number), f"Generated Workflow {number}", stages)

    def _generated_fields(self) -> dict[str, Any]:
        """Plausible request fields drawn from the seeded rng."""
        amount = round(self.rng.uniform(20, 5000), 2)
        item = self.rng.choice(["Laptop", "Travel", "Software licence", "Training", "Catering"])
        return {"Amount": amount, "Description": f"{item} ({amount:.2f} USD)"}


def _about(workflow_id: str | None) -> Callable[[str | None], bool]:
    """Which calls a queued failure answers: those about `workflow_id`, or any."""
    if workflow_id is None:
        return anywhere
    return lambda about: about == workflow_id


def _visible(request: SandboxRequest, username: str | None) -> bool:
    """Drafts are private to their author; None means "no viewer filter"."""
    return username is None or request.status != "draft" or request.submitted_by == username


def _check_choice(value: str, allowed: Sequence[str], what: str) -> None:
    """Refuse values outside an enum with a 400."""
    if value not in allowed:
        raise SandboxError(400, f"Unknown {what} '{value}' (expected one of {', '.join(allowed)})")


def _check_required(workflow: SandboxWorkflow, fields: Mapping[str, Any]) -> None:
    """400 naming every required field that is missing or blank."""
    missing = [name for name in workflow.required_fields if _blank(fields.get(name))]
    if not missing:
        return
    errors = {name: f"Field '{name}' is required" for name in missing}
    quoted = ", ".join(f"'{name}'" for name in missing)
    message = errors[missing[0]] if len(missing) == 1 else f"Fields {quoted} are required"
    raise SandboxError(400, message, errors)


def _blank(value: Any) -> bool:
    """Missing, null, or whitespace-only counts as not filled in."""
    return value is None or (isinstance(value, str) and not value.strip())


def _enter_stage(request: SandboxRequest, stage: SandboxStage) -> None:
    """Make the request pending at `stage`, reviewable by its reviewers."""
    request.status = "pending"
    request.current_stage = stage.id
    request.current_reviewers = list(stage.reviewers)


def _leave_stages(request: SandboxRequest, status: str) -> None:
    """Put the request in a non-pending status; nobody needs to act."""
    request.status = status
    request.current_stage = None
    request.current_reviewers = []


def _entry(
    stage: SandboxStage | None, action: str, by: str, at: datetime, comment: str | None = None
) -> HistoryEntry:
    """A history entry at `stage` (None when the request had no stage)."""
    return HistoryEntry(
        stage.id if stage else None, stage.name if stage else None, action, by, at, comment
    )
