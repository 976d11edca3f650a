"""Records of `bot.store.records` to column values and back, kept apart from the queries.

Columns are named after the records' fields, so one pair of helpers maps every record;
the conversions that are real (a key to encrypt, a default time, a row's own id) are
given explicitly by the caller. JSON-encoded tuples are the column type's job
(`schema.JsonList`), as is UTC for timestamps (`schema.UtcDateTime`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import ColumnElement, Row

from bot.store.records import LEGACY_CARD_KINDS, LEGACY_FOLLOWUP_KINDS, Card, Followup, RequestKey
from bot.store.schema import cards

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")

# Set by each card method itself: a claim has no ts yet, a failure is recorded on its own.
CARD_OUTCOME = ("ts", "failure", "failed_at")


def utc_now() -> datetime:
    return datetime.now(UTC)


def values_of(
    record: DataclassInstance, *, skip: Collection[str] = (), **given: Any
) -> dict[str, Any]:
    """A record's fields as column values, but `skip`; `given` replaces or adds columns."""
    values = {f.name: getattr(record, f.name) for f in fields(record) if f.name not in skip}
    return values | given


def record_from(row: Row[Any], cls: type[R], **given: Any) -> R:
    """A record from a row's same-named columns; `given` supplies the fields it has not."""
    columns = row._mapping
    taken = {f.name: columns[f.name] for f in fields(cls) if f.init and f.name not in given}
    return cls(**taken, **given)


def records_of(cls: type[R]) -> Callable[[Row[Any]], R]:
    """`record_from` for one record type, as `group_by_request` takes it."""
    return lambda row: record_from(row, cls)


def card_from(row: Row[Any]) -> Card:
    """A card, its kind in today's words whatever release wrote it (bot.store.records)."""
    card = record_from(row, Card)
    kind = LEGACY_CARD_KINDS.get(card.kind)
    return card if kind is None else replace(card, kind=kind)


def followup_from(row: Row[Any]) -> Followup:
    """A follow-up, its kind in today's words; `followup_kinds` finds its row again."""
    followup = record_from(row, Followup)
    kind = LEGACY_FOLLOWUP_KINDS.get(followup.kind)
    return followup if kind is None else replace(followup, kind=kind)


def followup_kinds(kind: str) -> list[str]:
    """The words a row of this kind may be stored under: today's, and an older release's."""
    return [kind, *(old for old, new in LEGACY_FOLLOWUP_KINDS.items() if new == kind)]


def card_values(card: Card) -> dict[str, Any]:
    return values_of(card, skip=CARD_OUTCOME, created_at=card.created_at or utc_now())


def card_pk() -> list[Any]:
    return [cards.c.workflow_id, cards.c.request_id, cards.c.channel, cards.c.slot]


def card_is(card: Card) -> ColumnElement[bool]:
    return (
        (cards.c.workflow_id == card.workflow_id)
        & (cards.c.request_id == card.request_id)
        & (cards.c.channel == card.channel)
        & (cards.c.slot == card.slot)
    )


def group_by_request(
    keys: Sequence[RequestKey], rows: list[Row[Any]], make: Callable[[Row[Any]], R]
) -> dict[RequestKey, list[R]]:
    """Records of each request, in the rows' order; every key present, [] when it has none."""
    grouped: dict[RequestKey, list[R]] = {key: [] for key in keys}
    for row in rows:
        grouped[(row.workflow_id, row.request_id)].append(make(row))
    return grouped
