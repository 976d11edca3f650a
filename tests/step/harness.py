"""The bot in step mode, in virtual time: the tier beneath the end-to-end tests.

The same bot as tests/harness.py's, against the same Slack stand-in and Cflow sandbox
over the same local sockets, but started without its poller (`poll=False`): each
`step()` is one poll cycle and everything it set going (its delivery at Slack's pace,
the follow-ups after it), and returns when that is done. Time is a `VirtualTime`
(tests/virtual_time.py) that the bot, its store and the stand-in all read, and that
moves only inside a step, a `settle()` or an `advance()`: Slack's real limits
(`rate_scale` 1) and hours-long reminders cost no wall time, and "nothing was sent" is
read right after a step, with no waiting for cycles.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from bot.devtools.cflow_standin.seed import DEMO_API_KEY, ROLES, USERS
from bot.devtools.cflow_standin.state import SandboxState
from bot.devtools.slack_standin.payloads import as_slack_sends, slash_command
from bot.devtools.slack_standin.slack import SlackCall, SlackStandIn, StoredMessage
from bot.runtime.server import RunningBot, make_poller
from bot.settings import load_settings
from bot.store.records import PollRun
from bot.sync.poller import Poller
from bot.telemetry.metrics import Metrics
from tests.harness import CHANNEL, PEOPLE, Bot, Sandbox, connected_to, mentions
from tests.virtual_time import VirtualTime

LA = ZoneInfo("America/Los_Angeles")  # where the stand-in's people live
STUCK = 0.05  # wall seconds after which a Slack call let go but never sent stops counting


def la(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of December 2026 in Los Angeles (the 1st is a Tuesday)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=LA)


START = la(1, 10)


def empty_account(clock: Callable[[], datetime]) -> SandboxState:
    """The demo's people and two of its workflows, and no request yet: each test brings
    its own, so that the first step publishes nothing and what follows is its own."""
    state = SandboxState(api_key=DEMO_API_KEY, rng=random.Random(0), clock=clock)
    for name, permissions in ROLES.items():
        state.add_role(name, permissions)
    for username, role, key, status in USERS:
        state.add_user(username, role, key, status=status)
    state.add_workflow("1001", "Expense Claim", [("Manager approval", ["bob"])])
    stages = [("Manager review", ["bob"]), ("Finance review", ["carol"])]
    state.add_workflow("1002", "Purchase Order", [*stages, ("Director approval", ["alice"])])
    return state


@dataclass
class SteppedBot(Bot):
    """tests/harness.py's `Bot`, stepped by the test: `step()` where a poller would run
    (its `cycles()`, which waits for one, has none to wait for here)."""

    time: VirtualTime
    poller: Poller

    async def step(self) -> PollRun:
        """One poll cycle, then what it set going, in virtual time: its delivery at
        Slack's pace and the follow-ups after it (bot.followups.after_cycle, which runs
        as a delivery does, so `delivered()` waits for it too)."""

        async def cycle() -> PollRun:
            run = await self.poller.cycle()
            await self.services.publisher.delivered()
            return run

        return await self.time.run_until(cycle())

    async def settle(self) -> None:
        """What a click or a command set going is done: its listener (after Bolt's
        acknowledgement) and what it handed on to Slack."""

        async def idle() -> None:
            await self.services.listener_tasks.drain(30)
            await self.services.publisher.delivered()

        await self.time.run_until(idle())

    async def advance(self, **delta: float) -> None:
        """Let virtual time pass (`hours=25`, `minutes=2` …), with no cycle in it."""
        await self.time.advance(timedelta(**delta).total_seconds())

    async def command(self, user: str, text: str) -> str:
        """Type `/cflow <text>` as `user`, as Slack sends it; the text of the answer."""
        before = len(self.slack.calls("response_url"))
        body = slash_command(
            user,
            as_slack_sends(text, self.slack),
            response_url=self.slack.response_url(user),
            trigger_id=self.slack.trigger_for(user),
        )
        assert (await self.post(body)).status == 200
        await self.settle()
        answers = self.slack.calls("response_url")[before:]
        assert answers, f"no answer to /cflow {text}"
        return str(answers[-1].params.get("text"))

    def message_of(self, call: SlackCall) -> StoredMessage:
        """The message `call` posted, as it is now (edits included)."""
        message = self.slack.message(call.landed_in or "", ts_of(call))
        assert message is not None
        return message

    def dms_to(self, user: str, request_id: str | None = None) -> list[SlackCall]:
        """Messages posted to `user`'s DM (about `request_id`)."""
        dm = self.slack.dm_channel(user)
        return [
            call
            for call in posts(self.slack)
            if call.landed_in == dm and (request_id is None or mentions(call.params, request_id))
        ]

    def channel_posts(self) -> list[SlackCall]:
        """Top-level messages posted in the channel (thread lines apart)."""
        return [
            call
            for call in posts(self.slack)
            if call.landed_in == CHANNEL and "thread_ts" not in call.params
        ]

    def thread_of(self, ts: str) -> list[str]:
        """The texts posted in the thread of the channel message `ts`."""
        return [c.params["text"] for c in posts(self.slack) if c.params.get("thread_ts") == ts]


def ts_of(call: SlackCall) -> str:
    """The ts Slack gave the message `call` posted."""
    assert call.response is not None
    return str(call.response["ts"])


def posts(slack: SlackStandIn) -> list[SlackCall]:
    return [c for c in slack.calls("chat.postMessage") if not c.failed]


def rate_limited(slack: SlackStandIn) -> list[SlackCall]:
    return [c for c in slack.calls() if c.error == "ratelimited"]


class InFlight:
    """Whether a Slack call the bot's pacer let go has not reached the stand-in yet:
    virtual time waits for it, so that the stand-in counts it at the moment it left.

    A call let go and then not sent (superseded at the last moment) never arrives: a
    shortfall that lasts `STUCK` wall seconds is written off."""

    def __init__(self, metrics: Metrics, slack: SlackStandIn) -> None:
        self._metrics = metrics
        self._slack = slack
        self._written_off = 0.0
        self._since: tuple[float, float] | None = None  # (shortfall, wall time first seen)

    def __call__(self) -> bool:
        let_go = sum(
            sample.value
            for metric in self._metrics.slack_wait_seconds.collect()
            for sample in metric.samples
            if sample.name.endswith("_count")
        )
        received = sum(1 for c in self._slack.calls() if c.method != "response_url")
        shortfall = let_go - self._written_off - received
        if shortfall <= 0:
            self._since = None
            return False
        now = time.monotonic()
        if self._since is None or self._since[0] != shortfall:
            self._since = (shortfall, now)
        elif now - self._since[1] > STUCK:
            self._written_off += shortfall
            self._since = None
            return False
        return True


@contextlib.asynccontextmanager
async def stepping_bot(
    sandbox: Sandbox,
    http: aiohttp.ClientSession,
    database: Path,
    vt: VirtualTime,
    *,
    linked: tuple[str, ...] = tuple(PEOPLE),
    **settings: Any,
) -> AsyncIterator[SteppedBot]:
    """The bot without a poller, on the store at `database`, in `vt`'s time, against a
    Slack stand-in with Slack's real limits counted in `vt`'s time; the people in
    `linked` have linked their Cflow accounts, and its first step is done (the account's
    workflows are seen and routed to the channel)."""
    async with SlackStandIn(rate_scale=1.0, clock=vt.monotonic) as slack:
        for user, name in PEOPLE.items():
            slack.add_user(user, f"{name}@example.com", name)
        slack.add_channel(CHANNEL, "approvals")
        options = connected_to(sandbox, slack, database) | dict(cflow_bot_admins="U0ALICE")
        config = load_settings(None, **(options | settings))
        running = RunningBot(config, host="127.0.0.1", port=0, poll=False, timebase=vt)
        await running.__aenter__()
        try:
            assert running.services is not None
            vt.busy = InFlight(running.services.metrics, slack)
            bot = SteppedBot(running, slack, sandbox, http, vt, make_poller(running.services))
            for user in linked:
                await bot.link(user)
            await bot.step()
            yield bot
        finally:
            await vt.run_until(running.__aexit__(None, None, None))  # what still paces
            vt.close()
