"""Listener work still running after Bolt acknowledged Slack, finished before shutdown.

Bolt runs a listener in a task of its own once `ack()` has answered Slack, so neither
the HTTP server's drain nor Socket Mode's close waits for it: without this, a SIGTERM
could cut an approval off between Cflow's answer and the card update.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

Listener = TypeVar("Listener", bound=Callable[..., Awaitable[Any]])


class ListenerTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def track(self, listener: Listener) -> Listener:
        """Wrap a listener so its task is waited for at shutdown (Bolt unwraps for args)."""

        @functools.wraps(listener)
        async def tracked(*args: Any, **kwargs: Any) -> Any:
            task = asyncio.current_task()
            if task is not None:
                self._tasks.add(task)
            try:
                return await listener(*args, **kwargs)
            finally:
                if task is not None:
                    self._tasks.discard(task)

        return tracked  # type: ignore[return-value]

    async def drain(self, grace: float) -> None:
        """Wait up to `grace` seconds for the listeners still running."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)
