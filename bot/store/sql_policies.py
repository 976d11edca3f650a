"""The policies part of the SQL store: each workflow's decision policy, and every change
of it, saved together so that the log never misses a change the policy shows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from bot.store.records import PolicyChange, WorkflowPolicy
from bot.store.rows import record_from, values_of
from bot.store.schema import policy_changes, workflow_policies
from bot.store.sql_base import SqlBase, chunks, unique


class SqlPolicies(SqlBase):
    async def policies_for(self, workflow_ids: Iterable[str]) -> dict[str, WorkflowPolicy]:
        found: dict[str, WorkflowPolicy] = {}
        table = workflow_policies
        async with self._begin() as conn:
            for chunk in chunks(unique(workflow_ids)):
                rows = await conn.execute(select(table).where(table.c.workflow_id.in_(chunk)))
                found.update({row.workflow_id: record_from(row, WorkflowPolicy) for row in rows})
        return found

    async def save_policy(self, policy: WorkflowPolicy, changes: Iterable[PolicyChange]) -> None:
        values = values_of(policy)
        table = workflow_policies
        stmt = self._insert(table).values(values)
        stmt = stmt.on_conflict_do_update(index_elements=[table.c.workflow_id], set_=values)
        rows = [values_of(change) for change in changes]
        async with self._begin() as conn:
            await conn.execute(stmt)
            if rows:
                await conn.execute(policy_changes.insert(), rows)

    async def policy_changes(
        self, workflow_id: str | None = None, since: datetime | None = None
    ) -> list[PolicyChange]:
        table = policy_changes
        query = select(table).order_by(table.c.at, table.c.id)
        if workflow_id is not None:
            query = query.where(table.c.workflow_id == workflow_id)
        if since is not None:
            query = query.where(table.c.at >= since)
        async with self._begin() as conn:
            return [record_from(row, PolicyChange) for row in await conn.execute(query)]
