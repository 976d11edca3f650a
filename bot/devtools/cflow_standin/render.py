"""JSON shapes of sandbox objects, following the Cflow OpenAPI schemas (plus extras)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.devtools.cflow_standin.records import (
    CallRecord,
    HistoryEntry,
    SandboxRequest,
    SandboxRole,
    SandboxStage,
    SandboxUser,
    SandboxWorkflow,
)
from bot.devtools.cflow_standin.state import SandboxState

JsonObject = dict[str, Any]


def iso(moment: datetime) -> str:
    """ISO 8601 UTC with a Z and fixed microseconds, so every change sorts and shows."""
    # isoformat is several times faster than strftime, which dominated a listing.
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def render_stage(stage: SandboxStage) -> JsonObject:
    """Stage schema."""
    return {
        "id": stage.id,
        "name": stage.name,
        "order": stage.order,
        "reviewers": list(stage.reviewers),
    }


def render_workflow(workflow: SandboxWorkflow) -> JsonObject:
    """Workflow schema, with `requiredFields` as an extra."""
    return {
        "id": workflow.id,
        "name": workflow.name,
        "description": workflow.description,
        "status": workflow.status,
        "stages": [render_stage(stage) for stage in workflow.ordered_stages()],
        "createdAt": iso(workflow.created_at),
        "updatedAt": iso(workflow.updated_at),
        "requiredFields": list(workflow.required_fields),
    }


def render_history(entry: HistoryEntry) -> JsonObject:
    """One `history` item; optional keys appear only when set."""
    body: JsonObject = {
        "stage": entry.stage,
        "stageName": entry.stage_name,
        "action": entry.action,
        "by": entry.by,
        "at": iso(entry.at),
    }
    if entry.comment is not None:
        body["comment"] = entry.comment
    if entry.reassigned_to is not None:
        body["reassignedTo"] = entry.reassigned_to
    return body


def render_request(request: SandboxRequest, state: SandboxState) -> JsonObject:
    """Request schema; stage and reviewers only while pending."""
    body: JsonObject = {
        "id": request.id,
        "workflowId": request.workflow_id,
        "status": request.status,
        "fields": dict(request.fields),
        "submittedBy": request.submitted_by,
        "createdAt": iso(request.created_at),
        "updatedAt": iso(request.updated_at),
        "history": [render_history(entry) for entry in request.history],
    }
    if request.status == "pending" and request.current_stage is not None:
        body.update(_current_stage(request, state))
    return body


def _current_stage(request: SandboxRequest, state: SandboxState) -> JsonObject:
    """The pending-only keys: stage id, its name (extra) and who may act."""
    workflow = state.workflows.get(request.workflow_id)
    stage = workflow.stage(request.current_stage) if workflow else None
    return {
        "currentStage": request.current_stage,
        "currentStageName": stage.name if stage else None,
        "currentReviewers": list(request.current_reviewers),
    }


def render_user(user: SandboxUser) -> JsonObject:
    """User schema (the key is never exposed through the API)."""
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "role": user.role,
        "status": user.status,
    }


def render_role(role: SandboxRole) -> JsonObject:
    """Role schema."""
    return {"id": role.id, "name": role.name, "permissions": dict(role.permissions)}


def render_call(call: CallRecord) -> JsonObject:
    """A call-log entry for the control API."""
    return {
        "operation": call.operation,
        "method": call.method,
        "path": call.path,
        "username": call.username,
        "body": call.body,
        "status": call.status,
    }


def render_credentials(state: SandboxState) -> JsonObject:
    """Demo credentials: the API key and every account with its key."""
    users = [{**render_user(user), "key": user.user_key} for user in state.users.values()]
    return {"apiKey": state.api_key, "users": users}


def render_config(state: SandboxState) -> JsonObject:
    """Current knob settings."""
    return {
        "latency": state.latency,
        "delay_after_commit": state.delay_after_commit,
        "failure_rate": state.failure_rate,
        "text_errors": state.text_errors,
        "pending_failures": len(state.failures),
    }
