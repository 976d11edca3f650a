"""The Workflow Builder steps' part of the SQL store: steps waiting for their outcome.

A step is completed by one instance only: `claim_step` is one UPDATE … RETURNING that
takes it when it is still open and nobody live holds it (unclaimed, claimed by the
caller, or by an instance whose heartbeat stopped: bot.sync.liveness). The step's Slack
token is encrypted at rest with the links' keys (bot.store.crypto).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Row, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.crypto import KeyBox
from bot.store.errors import MissingSecretKeyError, StoreKeyError
from bot.store.records import RequestKey, WorkflowStep
from bot.store.rows import record_from, values_of
from bot.store.schema import instances, workflow_steps
from bot.store.sql_base import SqlBase, chunks, request_in, unique

OPEN_STEPS = 500  # looked at per cycle, oldest first: the rest wait for the next


class SqlSteps(SqlBase):
    def _step_box(self) -> KeyBox:
        if self._keys is None:
            raise MissingSecretKeyError()
        return self._keys

    def _step(self, row: Row[Any]) -> WorkflowStep:
        """A step whose token no configured key decrypts any more comes with an empty
        token (Slack would refuse it anyway), so that it never stops the others."""
        try:
            token = self._step_box().decrypt(row.token_encrypted)
        except MissingSecretKeyError:
            raise
        except StoreKeyError:
            token = SecretStr("")
        return record_from(row, WorkflowStep, token=token)

    async def add_step(self, step: WorkflowStep) -> WorkflowStep | None:
        values = values_of(
            step, skip=("id", "token"), token_encrypted=self._step_box().encrypt(step.token)
        )
        stmt = workflow_steps.insert().values(values).returning(workflow_steps.c.id)
        try:
            async with self._begin() as conn:
                step_id = (await conn.execute(stmt)).scalar_one()
        except IntegrityError:
            return None  # Slack delivered the same execution twice: it is there already
        return replace(step, id=step_id)

    async def step_for(self, function_execution_id: str) -> WorkflowStep | None:
        table = workflow_steps
        query = select(table).where(table.c.function_execution_id == function_execution_id)
        async with self._begin() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else self._step(row)

    async def attach_request(self, step_id: int, request_id: str) -> None:
        stmt = update(workflow_steps).where(workflow_steps.c.id == step_id)
        async with self._begin() as conn:
            await conn.execute(stmt.values(request_id=request_id))

    async def open_steps(self) -> list[WorkflowStep]:
        table = workflow_steps
        query = (
            select(table)
            .where(table.c.completed_at.is_(None))
            .order_by(table.c.id)
            .limit(OPEN_STEPS)
        )
        async with self._begin() as conn:
            rows = (await conn.execute(query)).all()
        return [self._step(row) for row in rows]

    async def open_steps_for(self, keys: Iterable[RequestKey]) -> list[WorkflowStep]:
        table, found = workflow_steps, []
        async with self._begin() as conn:
            for chunk in chunks(unique(keys)):
                query = select(table).where(request_in(table, list(chunk)))
                query = query.where(table.c.completed_at.is_(None)).order_by(table.c.id)
                found += [self._step(row) for row in await conn.execute(query)]
        return found

    async def claim_step(
        self, step_id: int, instance_id: str, now: datetime, alive_since: datetime
    ) -> WorkflowStep | None:
        table = workflow_steps
        live = select(instances.c.instance_id).where(instances.c.beat_at >= alive_since)
        # Not "or claimed by me": this instance ends a step both when it records the
        # decision and after its poll cycle, and those two must not both complete it.
        unattended = or_(
            table.c.claimed_by.is_(None),
            table.c.claimed_by.not_in(live.scalar_subquery()),
        )
        stmt = (
            update(table)
            .where(table.c.id == step_id, table.c.completed_at.is_(None), unattended)
            .values(
                claimed_by=instance_id,
                claimed_at=func.coalesce(table.c.claimed_at, now),
                attempts=table.c.attempts + 1,
            )
            .returning(*table.c)
        )
        async with self._begin() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else self._step(row)

    async def finish_step(self, step_id: int, outcome: str, at: datetime) -> None:
        stmt = (
            update(workflow_steps)
            .where(workflow_steps.c.id == step_id)
            .values(completed_at=at, outcome=outcome[:64])
        )
        async with self._begin() as conn:
            await conn.execute(stmt)

    async def release_steps(self, step_ids: Iterable[int], instance_id: str) -> None:
        ids = sorted(set(step_ids))
        if not ids:
            return
        table = workflow_steps
        stmt = (
            update(table)
            .where(table.c.id.in_(ids), table.c.claimed_by == instance_id)
            .values(claimed_by=None, claimed_at=None)
        )
        async with self._begin() as conn:
            await conn.execute(stmt)

    async def reencrypt_steps(self) -> int:
        """Rewrap the open steps' tokens with the newest secret key (as `reencrypt_links`
        does the user keys); a token no key reads is left, and its step fails when due."""
        box, table = self._step_box(), workflow_steps
        query = select(table.c.id, table.c.token_encrypted).where(table.c.completed_at.is_(None))
        async with self._begin() as conn:
            rows = (await conn.execute(query)).all()
        changes = []
        for row in rows:
            try:
                new = box.rotate(row.token_encrypted)
            except StoreKeyError:
                continue
            changes.append({"step": row.id, "old": row.token_encrypted, "new": new})
        if changes:
            stmt = (
                update(table)
                .where(table.c.id == bindparam("step"))
                .where(table.c.token_encrypted == bindparam("old"))
                .values(token_encrypted=bindparam("new"))
            )
            async with self._begin() as conn:
                await conn.execute(stmt, changes)
        return len(changes)
