"""Cflow records for the pure builder tests: one realistic workflow and request, with
keyword overrides (bot/blocks's and the playground's renderers are tested on the same)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.cflow.models import Request, Workflow

NOW = datetime(2024, 5, 3, 12, 0, tzinfo=UTC)


def make_workflow(**overrides: Any) -> Workflow:
    data: dict[str, Any] = {
        "id": "w1",
        "name": "Purchase Order",
        "stages": [
            {"id": "s1", "name": "Manager review", "order": 1, "reviewers": ["bob"]},
            {"id": "s2", "name": "Finance review", "order": 2, "reviewers": ["carol"]},
            {"id": "s3", "name": "Director approval", "order": 3, "reviewers": ["erin"]},
        ],
    }
    return Workflow.model_validate(data | overrides)


def make_request(**overrides: Any) -> Request:
    data: dict[str, Any] = {
        "id": "103",
        "workflowId": "w1",
        "status": "pending",
        "currentStage": "s2",
        "fields": {"Vendor": "ACME", "Amount": 1200},
        "submittedBy": "dave",
        "createdAt": NOW - timedelta(days=2),
    }
    return Request.model_validate(data | overrides)
