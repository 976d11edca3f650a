"""Workflow routes (where an admin chose each workflow's cards to go) and instances'
heartbeats (who is alive to finish what it claimed)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select

from bot.store.records import WorkflowRoute
from bot.store.rows import record_from, values_of
from bot.store.schema import instances, workflow_routes
from bot.store.sql_base import SqlBase


class SqlRoutes(SqlBase):
    async def workflow_routes(self) -> dict[str, WorkflowRoute]:
        async with self._begin() as conn:
            rows = await conn.execute(select(workflow_routes))
            return {row.workflow_id: record_from(row, WorkflowRoute) for row in rows}

    async def add_workflow_routes(self, routes: Iterable[WorkflowRoute]) -> set[str]:
        """One INSERT … ON CONFLICT DO NOTHING RETURNING: the database says who added it."""
        rows = [values_of(route) for route in routes]
        if not rows:
            return set()
        stmt = self._insert(workflow_routes).on_conflict_do_nothing()
        added: set[str] = set()
        async with self._begin() as conn:
            for row in rows:  # RETURNING with many rows is not portable across drivers
                result = await conn.execute(
                    stmt.values(row).returning(workflow_routes.c.workflow_id)
                )
                added.update(result.scalars())
        return added

    async def save_workflow_route(self, route: WorkflowRoute) -> None:
        await self._upsert(workflow_routes, workflow_routes.c.workflow_id, values_of(route))

    async def beat(self, instance_id: str, at: datetime) -> None:
        values = {"instance_id": instance_id, "beat_at": at}
        await self._upsert(instances, instances.c.instance_id, values)

    async def live_instances(self, since: datetime) -> set[str]:
        query = select(instances.c.instance_id).where(instances.c.beat_at >= since)
        async with self._begin() as conn:
            return set((await conn.execute(query)).scalars())

    async def forget_instance(self, instance_id: str) -> None:
        async with self._begin() as conn:
            await conn.execute(delete(instances).where(instances.c.instance_id == instance_id))
