"""Which request, at which stage and version, something acts on (pure).

A button carries a `RequestRef` in its `value`; the same ref is what the access rules
and decisions compare with what Cflow says now, so it lives below both.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_VALUE = 2000  # Slack's limit for a button value and an option value


class RequestRef(BaseModel):
    """Which request, at which stage, a button acts on (short keys: it rides in `value`).

    The stage the card showed is part of the ref so that a click on a stale card can
    never approve a request that has since moved on to another stage.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    workflow_id: str = Field(alias="w")
    request_id: str = Field(alias="r")
    stage: str | None = Field(default=None, alias="s")
    updated: str | None = Field(default=None, alias="u")  # Cflow's updatedAt, when it sends one

    def encode(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)

    def fits(self, limit: int = MAX_VALUE) -> bool:
        return len(self.encode()) <= limit

    @classmethod
    def decode(cls, value: str | None) -> RequestRef | None:
        """The ref in a button value or private_metadata; None when it is not one of ours."""
        if not value:
            return None
        try:
            return cls.model_validate_json(value)
        except ValidationError:
            return None


def updated_mark(updated_at: datetime | None) -> str | None:
    """A request's `updatedAt` as a short, zone-independent text (for refs and compares)."""
    if updated_at is None:
        return None
    aware = updated_at if updated_at.tzinfo else updated_at.replace(tzinfo=UTC)
    return f"{aware.timestamp():.6f}"
