"""Workflow routes: where an admin chose each workflow's cards to go."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from bot.store.base import WorkflowRoute
from bot.store.rows import record_from, values_of
from bot.store.schema import workflow_routes
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
