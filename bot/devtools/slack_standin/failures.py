"""How the Slack stand-in fails: errors injected for the next calls, refusals of a user
or a channel, Slack's rate limits, dropped connections, lost answers and latency.

What is queued for the next calls (errors, drops, lost answers) goes in the queues both
stand-ins share (bot/devtools/faults.py), each call of a method taking them in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from bot.devtools.faults import FaultQueue, anywhere
from bot.devtools.slack_standin.records import SlackCall
from bot.outbound.limits import RateLimits


@dataclass(frozen=True)
class Failure:
    """What a failing call is answered: `{"ok": false, "error": error}` (429 with
    `Retry-After` for "ratelimited")."""

    error: str
    retry_after: int


@dataclass(frozen=True)
class Refusal:
    """Every call about `target` (a user or a channel), of `methods` or any, fails."""

    target: str
    error: str
    methods: frozenset[str] | None

    def applies(self, call: SlackCall, dms: Mapping[str, str]) -> bool:
        if self.methods is not None and call.method not in self.methods:
            return False
        named = {str(call.params.get(k, "")) for k in ("channel", "users", "user")}
        return self.target in named or dms.get(self.target) in named


class Failures:
    """What the stand-in does instead of answering a call normally, and how late."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        rate_limits: bool = True,
        rate_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = RateLimits(scale=rate_scale) if rate_limits else None
        self.latency = latency
        self.method_latency: dict[str, float] = {}
        self._clock = clock
        self.errors: FaultQueue[Failure] = FaultQueue()
        self.drops: FaultQueue[str] = FaultQueue()  # connections closed unanswered
        self.lost_answers: FaultQueue[str] = FaultQueue()  # carried out, then closed
        self._refusals: list[Refusal] = []

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        count: int = 1,
        retry_after: int = 1,
        *,
        where: Callable[[SlackCall], bool] = anywhere,
    ) -> None:
        """Make the next `count` calls of `method` (that `where` picks, e.g. the edit that
        puts a card's buttons back) fail: HTTP 429 for "ratelimited"."""
        self.errors.add(method, Failure(error, retry_after), count, where=where)

    def refuse(self, target: str, error: str, methods: Iterable[str] | None = None) -> None:
        """Refuse every call about a user (their DM too) or a channel with `error`, as Slack
        does for a deactivated account (`user_disabled`) or an archived channel."""
        chosen = frozenset(methods) if methods is not None else None
        self._refusals.append(Refusal(target, error, chosen))

    def drop_next(self, method: str, count: int = 1) -> None:
        """Close the connection of the next `count` calls of `method` without answering."""
        self.drops.add(method, "dropped", count)

    def lose_answer_of_next(
        self, method: str, where: Callable[[SlackCall], bool] = anywhere
    ) -> None:
        """Carry out the next call of `method` (that `where` picks), then close the
        connection before answering: it took effect but its caller cannot know."""
        self.lost_answers.add(method, "lost", where=where)

    def set_latency(self, seconds: float, method: str | None = None) -> None:
        """Delay answers (not state changes) globally or for one method."""
        if method is None:
            self.latency = seconds
        else:
            self.method_latency[method] = seconds

    # -- asked about each call ---------------------------------------------------------

    def dropped(self, call: SlackCall) -> bool:
        """Whether to close this call's connection without answering (used up)."""
        return self.drops.take(call.method, call) is not None

    def failure_for(self, call: SlackCall, dms: Mapping[str, str]) -> Failure | None:
        """The error this call is answered with, if any, before it changes anything."""
        injected = self.errors.take(call.method, call)
        return injected or self._refusal(call, dms) or self._throttled(call)

    def loses_answer(self, call: SlackCall) -> bool:
        """Whether this call, carried out, loses its answer (used up)."""
        return self.lost_answers.take(call.method, call) is not None

    def delay(self, method: str) -> float:
        return self.method_latency.get(method, self.latency)

    def _throttled(self, call: SlackCall) -> Failure | None:
        if self.limits is None:
            return None
        channel = call.params.get("channel")
        wait = self.limits.retry_after(call.method, str(channel or ""), self._clock())
        return None if wait is None else Failure("ratelimited", wait)

    def _refusal(self, call: SlackCall, dms: Mapping[str, str]) -> Failure | None:
        refusal = next((r for r in self._refusals if r.applies(call, dms)), None)
        return None if refusal is None else Failure(refusal.error, 0)
