"""One request as a roundup's message shows it (pure): plain fields, kept as JSON in the
store, so that the message is re-rendered from them without asking Cflow."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

from bot.blocks.names import request_title
from bot.blocks.text import aware
from bot.cflow.models import PENDING, Request, Workflow
from bot.domain.policy import OWN_REQUEST, own_blocked, web_only_reason
from bot.domain.refs import RequestRef, updated_mark
from bot.store.records import WorkflowPolicy


@dataclass(frozen=True)
class RoundupItem:
    """What a roundup's message needs of one request: plain fields, since it is kept as JSON
    in the database and the message is re-rendered from it without asking Cflow."""

    workflow_id: str
    request_id: str
    workflow_name: str
    title: str
    submitted_by: str | None
    submitted_at: datetime | None
    status: str
    stage: str | None
    stage_name: str | None
    reviewers: tuple[str, ...]
    updated: str | None
    web_only: str | None = None  # why it is decided in Cflow only (its workflow's policy)
    no_self_approval: bool = False  # its submitter may not decide it (its workflow's policy)

    @classmethod
    def of(
        cls, request: Request, workflow: Workflow, policy: WorkflowPolicy | None = None
    ) -> RoundupItem:
        """The item as its message shows it, under its workflow's policy (kept with it, as
        the message is re-rendered from the item alone)."""
        stage = workflow.find_stage(request.current_stage)
        return cls(
            workflow_id=workflow.id,
            request_id=request.id,
            workflow_name=workflow.label,
            title=request_title(request, workflow),
            submitted_by=request.submitted_by,
            submitted_at=request.created_at,
            status=request.status or "unknown",
            stage=request.current_stage,
            stage_name=stage.label if stage else None,
            reviewers=tuple(request.reviewers(workflow)),
            updated=updated_mark(request.updated_at),
            web_only=web_only_reason(policy, request) if policy else None,
            no_self_approval=policy is not None and policy.self_approval == "block",
        )

    def refused_for(self, reader: str | None) -> str | None:
        """Why `reader` (a Cflow username) may not decide it from this message, if so."""
        if self.web_only:
            return self.web_only
        own = own_blocked(self.no_self_approval, reader, self.submitted_by)
        return OWN_REQUEST if own else None

    @property
    def is_pending(self) -> bool:
        return self.status == PENDING

    @property
    def ref(self) -> RequestRef:
        """The same ref as the request's card carries, so one listener serves both."""
        return RequestRef(
            workflow_id=self.workflow_id,
            request_id=self.request_id,
            stage=self.stage,
            updated=self.updated,
        )

    def waits_on(self, reader: str) -> bool:
        return self.is_pending and reader in self.reviewers

    def to_json(self) -> str:
        moment = self.submitted_at.isoformat() if self.submitted_at else None
        return json.dumps(asdict(self) | {"submitted_at": moment}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> RoundupItem:
        """The item `to_json` wrote; ValueError when the text is not one."""
        try:
            data = json.loads(text)
            moment = data["submitted_at"]
            parsed = {
                "submitted_at": datetime.fromisoformat(moment) if moment else None,
                "reviewers": tuple(data["reviewers"]),
            }
            return cls(**(data | parsed))
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a roundup item: {error}") from error


def oldest_first(items: Iterable[RoundupItem]) -> list[RoundupItem]:
    """Oldest submission first; items Cflow gave no date go last, in their own order."""
    return sorted(items, key=age_key)


def age_key(item: RoundupItem) -> tuple[bool, float]:
    """Oldest submission first, undated last (a sort key)."""
    moment = item.submitted_at
    return (moment is None, aware(moment).timestamp() if moment else 0.0)
