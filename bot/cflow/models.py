"""Pydantic models of the Cflow API's schemas (bot/cflow/openapi.yaml).

Reading is tolerant on purpose: Cflow accounts differ, and a field we do not know or
one that is missing must not stop the bot. Unknown fields are kept (`extra="allow"`),
everything but an id is optional, and an unknown enum value is kept as plain text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

PENDING = "pending"
DRAFT = "draft"
FINAL_STATUSES = frozenset({"approved", "rejected", "completed"})


class CflowModel(BaseModel):
    """Base for every Cflow schema: keep unknown fields, accept camelCase names."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class Stage(CflowModel):
    id: str
    name: str | None = None
    order: int | None = None
    reviewers: list[str] = Field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or self.id


class Workflow(CflowModel):
    id: str
    name: str | None = None
    description: str | None = None
    status: str | None = None
    stages: list[Stage] = Field(default_factory=list)
    created_at: datetime | None = Field(default=None, alias="createdAt")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")

    @property
    def label(self) -> str:
        return self.name or self.id

    @property
    def is_active(self) -> bool:
        # A workflow with no status is treated as active: skipping it would hide work.
        return self.status in (None, "active")

    @property
    def ordered_stages(self) -> list[Stage]:
        """Stages in process order (by `order`, then as listed)."""
        indexed = list(enumerate(self.stages))
        indexed.sort(key=lambda pair: (pair[1].order is None, pair[1].order or 0, pair[0]))
        return [stage for _, stage in indexed]

    def is_last_stage(self, ref: str | None) -> bool:
        """Whether `ref` names the workflow's final stage (its approval decides it)."""
        stage = self.find_stage(ref)
        return stage is not None and stage is self.ordered_stages[-1]

    def find_stage(self, ref: str | None) -> Stage | None:
        """The stage a request's `currentStage` names: Cflow sends an id or a name."""
        if not ref:
            return None
        for stage in self.stages:
            if ref == stage.id:
                return stage
        folded = ref.casefold()
        return next((s for s in self.stages if (s.name or "").casefold() == folded), None)


class Request(CflowModel):
    id: str
    workflow_id: str | None = Field(default=None, alias="workflowId")
    status: str | None = None
    current_stage: str | None = Field(default=None, alias="currentStage")
    fields: dict[str, Any] = Field(default_factory=dict)
    submitted_by: str | None = Field(default=None, alias="submittedBy")
    created_at: datetime | None = Field(default=None, alias="createdAt")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")

    @field_validator("id", "workflow_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        # Some Cflow accounts send numeric ids; the bot always handles them as text.
        return str(value) if isinstance(value, int) else value

    @property
    def is_pending(self) -> bool:
        return self.status == PENDING

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def reviewers(self, workflow: Workflow) -> list[str]:
        """Who may act now: Cflow's own list when it sends one, else the stage's reviewers."""
        current = (self.model_extra or {}).get("currentReviewers")
        if isinstance(current, list) and all(isinstance(name, str) for name in current):
            return list(current)
        stage = workflow.find_stage(self.current_stage)
        return list(stage.reviewers) if stage else []


class User(CflowModel):
    id: str | None = None
    username: str
    email: str | None = None
    role: str | None = None
    status: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status in (None, "active")


class RolePermissions(CflowModel):
    workflows: str | None = None
    lookups: str | None = None
    reports: str | None = None
    support: str | None = None


class Role(CflowModel):
    id: str | None = None
    name: str
    permissions: RolePermissions | None = None


class Credentials(BaseModel):
    """Who a call acts as: the account's API key plus one person's username and key.

    Passed to every client call and never stored in the client, so the poller's
    service account and a clicking reviewer can never be mixed up.
    """

    model_config = ConfigDict(frozen=True)

    api_key: SecretStr
    username: str
    user_key: SecretStr

    def headers(self) -> dict[str, str]:
        return {
            "apikey": self.api_key.get_secret_value(),
            "username": self.username,
            "userkey": self.user_key.get_secret_value(),
        }
