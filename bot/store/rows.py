"""Records of `bot.store.base` to column values and back, kept apart from the queries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Row

from bot.store.base import Card, Decision, PollRun, RequestKey, Subscription, TrackedRequest
from bot.store.schema import cards

T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


def card_pk() -> list[Any]:
    return [cards.c.workflow_id, cards.c.request_id, cards.c.channel, cards.c.slot]


def card_is(card: Card) -> ColumnElement[bool]:
    return (
        (cards.c.workflow_id == card.workflow_id)
        & (cards.c.request_id == card.request_id)
        & (cards.c.channel == card.channel)
        & (cards.c.slot == card.slot)
    )


def card_values(card: Card) -> dict[str, Any]:
    return {
        "workflow_id": card.workflow_id,
        "request_id": card.request_id,
        "channel": card.channel,
        "kind": card.kind,
        "slack_user_id": card.slack_user_id,
        "created_at": card.created_at or utc_now(),
        "slot": card.slot,
        "payload": card.payload,
        "thread_ts": card.thread_ts,
    }


def card_from_row(row: Row[Any]) -> Card:
    return Card(
        workflow_id=row.workflow_id,
        request_id=row.request_id,
        channel=row.channel,
        kind=row.kind,
        ts=row.ts,
        slack_user_id=row.slack_user_id,
        created_at=row.created_at,
        slot=row.slot,
        payload=row.payload,
        thread_ts=row.thread_ts,
        failure=row.failure,
        failed_at=row.failed_at,
    )


def tracked_values(request: TrackedRequest) -> dict[str, Any]:
    return {
        "workflow_id": request.workflow_id,
        "request_id": request.request_id,
        "status": request.status,
        "stage": request.stage,
        "reviewers": request.reviewers,
        "updated_at": request.updated_at or utc_now(),
        "seq": request.seq,
        "visit": request.visit,
        "retry_at": request.retry_at,
        "attempts": request.attempts,
    }


def tracked_from_row(row: Row[Any]) -> TrackedRequest:
    return TrackedRequest(
        workflow_id=row.workflow_id,
        request_id=row.request_id,
        status=row.status,
        stage=row.stage,
        reviewers=row.reviewers,
        updated_at=row.updated_at,
        seq=row.seq,
        visit=row.visit,
        retry_at=row.retry_at,
        attempts=row.attempts,
    )


def decision_values(decision: Decision) -> dict[str, Any]:
    return {
        "workflow_id": decision.workflow_id,
        "request_id": decision.request_id,
        "stage": decision.stage,
        "action": decision.action,
        "cflow_username": decision.cflow_username,
        "slack_user_id": decision.slack_user_id,
        "comment": decision.comment,
        "reassigned_to": decision.reassigned_to,
        "at": decision.at,
    }


def decision_from_row(row: Row[Any]) -> Decision:
    return Decision(
        workflow_id=row.workflow_id,
        request_id=row.request_id,
        stage=row.stage,
        action=row.action,
        cflow_username=row.cflow_username,
        at=row.at,
        slack_user_id=row.slack_user_id,
        comment=row.comment,
        reassigned_to=row.reassigned_to,
    )


def subscription_from_row(row: Row[Any]) -> Subscription:
    return Subscription(
        workflow_id=row.workflow_id,
        channel_id=row.channel_id,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def poll_run_from_row(row: Row[Any]) -> PollRun:
    return PollRun(
        started_at=row.started_at,
        duration=row.duration,
        workflows=row.workflows,
        pending=row.pending,
        errors=row.errors,
    )


def group_by_request(
    keys: Sequence[RequestKey], rows: list[Row[Any]], to_record: Callable[[Row[Any]], T]
) -> dict[RequestKey, list[T]]:
    grouped: dict[RequestKey, list[T]] = {key: [] for key in keys}
    for row in rows:
        grouped[(row.workflow_id, row.request_id)].append(to_record(row))
    return grouped
