"""The follow-ups part of the SQL store: stage visits, reminders, escalations and
hand-overs, who is away, each workflow's rules (and the hook's hints).

Follow-ups are claimed like digests (bot.store.sql_preferences): one UPDATE … RETURNING
takes every due one nobody holds, so two instances never send the same reminder.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, case, delete, or_, select, update

from bot.store.records import Followup, Preference, RequestKey, StageVisit, WorkflowRules
from bot.store.rows import followup_from, followup_kinds, record_from, utc_now, values_of
from bot.store.schema import (
    followups,
    preferences,
    refresh_hints,
    stage_visits,
    workflow_rules,
)
from bot.store.sql_base import SqlBase, chunks, request_in, unique


class SqlFollowups(SqlBase):
    async def visits_entered(self, visits: Iterable[StageVisit]) -> None:
        rows = [values_of(v) for v in visits]
        if rows:
            async with self._begin() as conn:
                await conn.execute(self._insert(stage_visits).on_conflict_do_nothing(), rows)

    async def visits_left(self, ends: Iterable[StageVisit]) -> None:
        table = stage_visits
        rows = [
            {
                "wf": end.workflow_id,
                "rq": end.request_id,
                "keep": end.visit,
                "left": end.left_at,
                "how": end.outcome,
                "who": end.decided_by,
            }
            for end in ends
        ]
        if not rows:
            return
        stmt = (
            update(table)
            .where(
                table.c.workflow_id == bindparam("wf"),
                table.c.request_id == bindparam("rq"),
                table.c.visit != bindparam("keep"),
                table.c.left_at.is_(None),
            )
            .values(
                left_at=bindparam("left"), outcome=bindparam("how"), decided_by=bindparam("who")
            )
        )
        async with self._begin() as conn:
            await conn.execute(stmt, rows)

    async def stage_visits(
        self, since: datetime, workflow_id: str | None = None
    ) -> list[StageVisit]:
        table = stage_visits
        query = select(table).where(or_(table.c.left_at.is_(None), table.c.left_at >= since))
        if workflow_id is not None:
            query = query.where(table.c.workflow_id == workflow_id)
        async with self._begin() as conn:
            rows = await conn.execute(query.order_by(table.c.arrived_at))
            return [record_from(row, StageVisit) for row in rows]

    async def add_followups(self, added: Iterable[Followup]) -> None:
        rows = [values_of(f) for f in added]
        if rows:
            async with self._begin() as conn:
                await conn.execute(self._insert(followups).on_conflict_do_nothing(), rows)

    async def cancel_followups(self, keep: dict[RequestKey, int | None]) -> None:
        table = followups
        ending = [key for key, visit in keep.items() if visit is None]
        moving = [(key, visit) for key, visit in keep.items() if visit is not None]
        async with self._begin() as conn:
            for chunk in chunks(ending):
                await conn.execute(delete(table).where(request_in(table, list(chunk))))
            if moving:
                stmt = delete(table).where(
                    table.c.workflow_id == bindparam("wf"),
                    table.c.request_id == bindparam("rq"),
                    table.c.visit != bindparam("keep"),
                )
                rows = [{"wf": wf, "rq": rq, "keep": visit} for (wf, rq), visit in moving]
                await conn.execute(stmt, rows)

    async def claim_followups(self, now: datetime, until: datetime) -> list[Followup]:
        table, held = followups, followups.c.claimed_until
        stmt = (
            update(table)
            .where(table.c.due_at <= now, or_(held.is_(None), held < now))
            .values(claimed_until=until)
            .returning(*table.c)
        )
        due = select(table.c.due_at).where(table.c.due_at <= now).limit(1)
        async with self._begin() as conn:
            if (await conn.execute(due)).first() is None:
                return []  # the usual answer: a read, and no write
            return [followup_from(row) for row in await conn.execute(stmt)]

    async def followups_done(self, done: Iterable[Followup]) -> None:
        table = followups
        rows = [
            {
                "wf": f.workflow_id,
                "rq": f.request_id,
                "v": f.visit,
                "k": f.kind,
                "k_then": followup_kinds(f.kind)[-1],  # as an older release wrote it
                "r": f.reviewer,
                "due": f.due_at,
                "n": f.sent,
                "last": f.sent_at,
            }
            for f in done
        ]
        if not rows:
            return
        stmt = (
            update(table)
            .where(
                table.c.workflow_id == bindparam("wf"),
                table.c.request_id == bindparam("rq"),
                table.c.visit == bindparam("v"),
                table.c.kind.in_([bindparam("k"), bindparam("k_then")]),
                table.c.reviewer == bindparam("r"),
            )
            .values(
                due_at=bindparam("due"),
                sent=bindparam("n"),
                sent_at=bindparam("last"),
                claimed_until=None,
            )
        )
        async with self._begin() as conn:
            await conn.execute(stmt, rows)

    async def snooze_followups(
        self, keys: Iterable[RequestKey], reviewer: str, until: datetime
    ) -> int:
        table, wanted, changed = followups, unique(keys), 0
        async with self._begin() as conn:
            for chunk in chunks(wanted):
                # The reminder comes again then: it counts as the one put off.
                again = case((table.c.sent > 0, table.c.sent - 1), else_=0)
                stmt = (
                    update(table)
                    .where(
                        request_in(table, list(chunk)),
                        table.c.kind.in_(followup_kinds("reminder")),
                        table.c.reviewer == reviewer,
                    )
                    .values(due_at=until, sent=again, sent_at=None, claimed_until=None)
                )
                changed += (await conn.execute(stmt)).rowcount
        return changed

    async def followups_due(self, reviewer: str, now: datetime) -> None:
        table = followups
        stmt = (
            update(table)
            .where(
                table.c.kind.in_(followup_kinds("reminder")),
                table.c.reviewer == reviewer,
                table.c.due_at > now,
            )
            .values(due_at=now)
        )
        async with self._begin() as conn:
            await conn.execute(stmt)

    async def first_followup(self, followup: Followup) -> bool:
        stmt = self._insert(followups).values(values_of(followup)).on_conflict_do_nothing()
        async with self._begin() as conn:
            return bool((await conn.execute(stmt)).rowcount)

    async def people_away(self, now: datetime) -> list[Preference]:
        query = select(preferences).where(preferences.c.away_until > now)
        async with self._begin() as conn:
            return [record_from(row, Preference) for row in await conn.execute(query)]

    async def add_hints(self, workflow_ids: Iterable[str]) -> None:
        rows = [{"workflow_id": w, "at": utc_now()} for w in unique(workflow_ids)]
        if rows:
            async with self._begin() as conn:
                await conn.execute(self._insert(refresh_hints).on_conflict_do_nothing(), rows)

    async def take_hints(self) -> set[str]:
        """A read twice a second that finds nothing, usually; a delete only when it does."""
        table = refresh_hints
        async with self._begin() as conn:
            seen = [row.workflow_id for row in await conn.execute(select(table.c.workflow_id))]
            if not seen:
                return set()
            stmt = delete(table).where(table.c.workflow_id.in_(seen)).returning(table.c.workflow_id)
            return {row.workflow_id for row in await conn.execute(stmt)}

    async def workflow_rules(self) -> dict[str, WorkflowRules]:
        async with self._begin() as conn:
            rows = await conn.execute(select(workflow_rules))
            return {row.workflow_id: record_from(row, WorkflowRules) for row in rows}

    async def save_workflow_rules(self, rules: WorkflowRules) -> None:
        await self._upsert(workflow_rules, workflow_rules.c.workflow_id, values_of(rules))
