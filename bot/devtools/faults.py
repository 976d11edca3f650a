"""What both stand-ins keep for tests: failures queued for their next calls, and the
log of every call they received.

The Slack stand-in and the Cflow stand-in answer differently (Slack: HTTP 200 or 429
with `{"ok": false, "error": …}`; Cflow: a status and a JSON message), so each queues
its own kind of answer; which call a queued failure answers, and in what order, is
decided here, once for both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

Answer = TypeVar("Answer")  # what a stand-in answers a failing call with, in its own shape


def anywhere(subject: Any) -> bool:
    """A fault that answers any call of its name."""
    return True


@dataclass(frozen=True)
class Fault(Generic[Answer]):
    """One queued failure: for calls of `name` (None: of any name) that `where` picks."""

    name: str | None
    answer: Answer
    where: Callable[[Any], bool] = anywhere

    def applies(self, name: str, subject: Any) -> bool:
        return self.name in (None, name) and self.where(subject)


class FaultQueue(Generic[Answer]):
    """Failures for the next calls, in the order they were queued: the first that
    applies to a call answers it, and only it."""

    def __init__(self) -> None:
        self._queued: list[Fault[Answer]] = []

    def add(
        self,
        name: str | None,
        answer: Answer,
        count: int = 1,
        *,
        where: Callable[[Any], bool] = anywhere,
    ) -> None:
        """Answer the next `count` calls of `name` (that `where` picks) with `answer`."""
        self._queued.extend([Fault(name, answer, where)] * count)

    def take(self, name: str, subject: Any = None) -> Answer | None:
        """The answer for this call, if a queued failure applies (it is used up); `where`
        is asked about `subject`, whatever the stand-in knows of the call."""
        for index, fault in enumerate(self._queued):
            if fault.applies(name, subject):
                return self._queued.pop(index).answer
        return None

    def pending(self, name: str | None = None) -> int:
        """How many failures wait (for calls of `name`, if given)."""
        return sum(1 for fault in self._queued if name is None or fault.name in (None, name))

    def clear(self) -> None:
        """Drop the failures that never fired."""
        self._queued.clear()

    def __len__(self) -> int:
        return len(self._queued)


class LoggedCall(Protocol):
    """What a stand-in logs of a call: what was called, with what, and when."""

    @property
    def name(self) -> str: ...  # the method or operation called

    @property
    def time(self) -> float: ...  # time.monotonic() when it arrived


Call = TypeVar("Call", bound=LoggedCall)


class CallLog(Generic[Call]):
    """Every call a stand-in received, oldest first, for assertions and traces."""

    def __init__(self) -> None:
        self._calls: list[Call] = []

    def record(self, call: Call) -> Call:
        self._calls.append(call)
        return call

    def of(self, name: str | None = None) -> list[Call]:
        """The calls of `name` (all, if None), oldest first."""
        return [call for call in self._calls if name is None or call.name == name]

    def clear(self) -> None:
        """Forget the calls so far (between the phases of a test)."""
        self._calls.clear()

    def __iter__(self) -> Iterator[Call]:
        return iter(list(self._calls))

    def __len__(self) -> int:
        return len(self._calls)

    async def wait_for(
        self,
        name: str,
        count: int = 1,
        timeout: float = 20.0,  # noqa: ASYNC109 - a plain number reads best in tests
        predicate: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Wait until `count` calls of `name` (that `predicate` picks) were received: the
        caller may answer before the work that makes them is done."""
        deadline = time.monotonic() + timeout
        while True:
            found = [call for call in self.of(name) if predicate is None or predicate(call)]
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                seen = ", ".join(call.name for call in self._calls) or "none"
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {count} {name} call(s)"
                    f"{' matching predicate' if predicate else ''}; got {len(found)}. "
                    f"Recorded calls: {seen}"
                )
            await asyncio.sleep(0.01)
