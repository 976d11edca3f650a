"""The bot under test: settings, signed requests from "Slack", card helpers, processes.

One harness for every end-to-end test: the app runs in-process on a free port, talks to
the fake Slack Web API and the Cflow sandbox over real sockets, and each Slack request
is signed for real with the signing secret. Tests of the command line run `python -m
bot` as a real process, through the one spawner at the end of this module.

"Nothing happened" is shown by waiting for completed poll cycles (`Bot.cycles`,
`cycles_of`, `process_cycles`), never by sleeping: a fixed sleep is too short on a busy
machine and too long on an idle one.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NoReturn

import aiohttp
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from bot.cflow import Credentials, RetryPolicy
from bot.devtools.cflow_standin.state import SandboxState
from bot.devtools.slack_standin.payloads import (
    block_action,
    form,
    initial_state,
    sign,
    slash_command,
    view_submission,
)
from bot.devtools.slack_standin.slack import SlackCall, SlackStandIn, StoredMessage
from bot.runtime.server import RunningBot
from bot.runtime.services import Services
from bot.settings import HINTS, Settings, load_settings
from bot.store import open_store
from bot.store.records import Link
from bot.telemetry.health import PollerHealth


@dataclass
class Sandbox:
    """A running sandbox: its state (to arrange and inspect) and its URL."""

    state: SandboxState
    url: str

    def creds(self, username: str, *, user_key: str | None = None) -> Credentials:
        key = user_key if user_key is not None else self.state.users[username].user_key
        return Credentials(
            api_key=SecretStr(self.state.api_key), username=username, user_key=SecretStr(key)
        )

    def calls(self, operation: str | None = None) -> list:
        return self.state.calls.of(operation)


# Short waits keep retry tests quick while exercising the same code path.
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, total=5.0)
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"  # unless TEST_DATABASE_URL
SECRET = "test-signing-secret"
CHANNEL = "C0NOTIFY"
RATE_SCALE = 10.0  # Slack's limits, ten times faster on both sides
PEOPLE = {"U0BOB": "bob", "U0CAROL": "carol", "U0ALICE": "alice", "U0DAVE": "dave"}


def postgres_unreachable(url: str, problem: str) -> NoReturn:
    """Skip locally, fail when CI=true: CI must never pass without PostgreSQL."""
    shown = make_url(url).render_as_string(hide_password=True)
    message = f"PostgreSQL not reachable at {shown}; set TEST_DATABASE_URL ({problem})"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Bot:
    running: RunningBot
    slack: SlackStandIn
    sandbox: Sandbox
    http: aiohttp.ClientSession

    async def post(self, body: str, **sign_options: Any) -> aiohttp.ClientResponse:
        headers = sign(body, SECRET, **sign_options)
        async with self.http.post(
            self.running.url + "/slack/events", data=body, headers=headers
        ) as response:
            await response.read()
            return response

    async def link(self, slack_user: str) -> None:
        name = PEOPLE[slack_user]
        key = SecretStr(self.sandbox.state.users[name].user_key)
        assert self.running.services is not None
        await self.running.services.store.save_link(Link(slack_user, name, key))

    async def channel_card(self, request_id: str) -> StoredMessage:
        calls = await self.slack.wait_for(
            "chat.postMessage",
            predicate=lambda c: (
                c.params.get("channel") == CHANNEL
                and mentions(c.params, request_id)
                and not c.failed
            ),
        )
        return self.slack.message(CHANNEL, calls[0].response["ts"])

    @property
    def services(self) -> Services:
        assert self.running.services is not None
        return self.running.services

    async def cycles(self, count: int = 2, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Wait until the poller has completed `count` more whole cycles, and Slack has
        been given what they found (delivery runs after a cycle, at Slack's pace)."""
        await cycles_of(count, self.services.poller_health, timeout=timeout)
        await asyncio.wait_for(self.services.publisher.delivered(), timeout)

    async def health(self) -> tuple[int, dict[str, Any]]:
        async with self.http.get(self.running.url + "/healthz") as response:
            return response.status, await response.json()

    def cards_posted(self, request_id: str, channel: str | None = None) -> list[SlackCall]:
        """Successful top-level posts of this request's cards (threads and answers apart)."""
        return [
            call
            for call in self.slack.calls("chat.postMessage")
            if not call.failed
            and "thread_ts" not in call.params
            and (call.params.get("metadata") or {}).get("event_payload", {}).get("request_id")
            == request_id
            and channel in (None, call.response and call.response.get("channel"))
        ]

    async def click(
        self,
        user: str,
        card: StoredMessage,
        action_id: str,
        option: str | None = None,
        *,
        block_id: str | None = None,
    ) -> aiohttp.ClientResponse:
        """A button click, or with `option` a choice in the card's overflow menu; with
        `block_id`, the button of that block (a message listing several requests)."""
        element = button(card, action_id, block_id)
        action: dict[str, Any] = {"action_id": action_id, "block_id": element["block_id"]}
        if option is None:
            action |= {"type": "button", "value": element["value"]}
        else:
            chosen = next(o for o in element["options"] if o["value"] == option)
            action |= {"type": "overflow", "selected_option": chosen}
        message = {"ts": card.ts, "text": card.text, "blocks": card.blocks}
        payload = block_action(
            user,
            action,
            channel=card.channel,
            message=message,
            response_url=self.slack.response_url(user),
        )
        return await self.post(form(payload))


def mentions(params: dict[str, Any], request_id: str) -> bool:
    return f"#{request_id}" in json.dumps(params)


def button(card: StoredMessage, action_id: str, block_id: str | None = None) -> dict[str, Any]:
    for block in card.blocks or []:
        if block_id is not None and block.get("block_id") != block_id:
            continue
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return {**element, "block_id": block.get("block_id")}
    raise AssertionError(f"no {action_id} button on the card")


def has_button(message: StoredMessage, action_id: str) -> bool:
    return f'"action_id": "{action_id}"' in json.dumps(message.blocks)


def connected_to(sandbox: Sandbox, slack: SlackStandIn, database: Path) -> dict[str, Any]:
    """The settings of a bot that talks to this Cflow stand-in and this Slack stand-in,
    with its store at `database`. Reminders and escalations are off: the demo's requests
    are days old, and they would follow them in every test; the tests of follow-ups set
    them (tests/test_followups.py, tests/step/test_followups.py)."""
    return dict(
        cflow_base_url=sandbox.url,
        cflow_api_key=sandbox.state.api_key,
        cflow_username="cflow-bot",
        cflow_user_key="cflow-bot-key",
        slack_bot_token=slack.bot_token,
        slack_signing_secret=SECRET,
        slack_api_url=slack.api_url,
        cflow_notify_channel=CHANNEL,
        cflow_remind_after=0,
        cflow_escalate_after=0,
        database_url=f"sqlite:///{database}",
        cflow_bot_secret_key=Fernet.generate_key().decode(),
    )


@contextlib.asynccontextmanager
async def running_bot(
    sandbox: Sandbox,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    *,
    before_start: Callable[[SlackStandIn], None] | None = None,
    linked: tuple[str, ...] = (),
    rate_scale: float = RATE_SCALE,
    clock: Callable[[], datetime] | None = None,
    poll: bool = True,
    slack: SlackStandIn | None = None,
    **settings: Any,
) -> AsyncIterator[Bot]:
    """`before_start` arranges the fake Slack before the bot's first call (a fault);
    the Slack users in `linked` have linked their Cflow accounts before it starts;
    `clock` is the time the bot tells people by (their digests and quiet hours);
    `poll=False` runs it as an instance that leaves polling to another; `slack` is
    another bot's fake Slack, for a second instance in the same workspace.

    The fake Slack enforces Slack's rate limits, `rate_scale` times faster (and the bot
    paces to the same): the pacing is exercised without a test waiting for Slack's
    real rates, which tests/test_roundups.py and the benchmarks use."""
    async with _slack_stand_in(slack, rate_scale) as slack:
        if before_start is not None:
            before_start(slack)
        options = connected_to(sandbox, slack, tmp_path / "bot.db") | dict(
            cflow_poll_interval=0.2,
            # The demo data's six pending requests get cards of their own, as most tests
            # expect; tests of roundups set the burst limit (default 5) themselves.
            cflow_burst_limit=10,
            slack_rate_scale=rate_scale,
        )
        config = load_settings(None, **(options | settings))
        if "database_url" not in settings:
            await migrated_store(tmp_path / "bot.db")
        if linked:
            await _link_before_start(config, sandbox, linked)
        timed = {"clock": clock} if clock is not None else {}
        async with RunningBot(config, host="127.0.0.1", port=0, poll=poll, **timed) as running:
            yield Bot(running, slack, sandbox, http)


_migrated: dict[str, Path] = {}  # this process's store at the newest revision


async def migrated_store(path: Path) -> None:
    """Put an SQLite store at the newest revision at `path`, unless a file is there (a
    restarted bot's): migrated once a process, then copied. Alembic takes tens of ms a
    store, several seconds a run; the bot still runs its upgrade at start, which finds the
    head and does nothing (tests/test_migrations.py and test_store.py migrate their own)."""
    if "template" not in _migrated:
        folder = Path(tempfile.mkdtemp(prefix="cflow-bot-store-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        template = folder / "head.db"
        await (await open_store(f"sqlite:///{template}", [])).close()
        _migrated["template"] = template
    await asyncio.to_thread(_copy_unless_there, _migrated["template"], path)


def _copy_unless_there(template: Path, path: Path) -> None:
    if not path.exists():
        shutil.copyfile(template, path)


@contextlib.asynccontextmanager
async def _slack_stand_in(
    given: SlackStandIn | None, rate_scale: float
) -> AsyncIterator[SlackStandIn]:
    """`given` as it is (its owner arranged it), or a new workspace with the people."""
    if given is not None:
        yield given
        return
    async with SlackStandIn(rate_scale=rate_scale) as slack:
        for user, name in PEOPLE.items():
            slack.add_user(user, f"{name}@example.com", name)
        slack.add_channel(CHANNEL, "approvals")
        yield slack


async def _link_before_start(config: Settings, sandbox: Sandbox, people: tuple[str, ...]) -> None:
    store = await open_store(config.database_url, config.secret_keys)
    try:
        for slack_user in people:
            key = SecretStr(sandbox.state.users[PEOPLE[slack_user]].user_key)
            await store.save_link(Link(slack_user, PEOPLE[slack_user], key))
    finally:
        await store.close()


def new_expense(sandbox: Sandbox, **fields: Any) -> str:
    return sandbox.state.add_request("1001", {"Amount": 42, **fields}, "dave").id


async def submit_view(bot: Bot, user: str, view: dict[str, Any], values: dict[str, Any]) -> dict:
    """Submit a modal as Slack does; returns the bot's acknowledgement body."""
    payload = view_submission(
        user,
        view["callback_id"],
        initial_state(view) | values,
        private_metadata=view["private_metadata"],
        view_id=view.get("id", "V0TEST"),
    )
    body = form(payload)
    async with bot.http.post(
        bot.running.url + "/slack/events", data=body, headers=sign(body, SECRET)
    ) as response:
        assert response.status == 200
        text = await response.text()
    return json.loads(text) if text else {}


def typed(value: str) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


async def open_form(bot: Bot, user: str, text: str) -> dict[str, Any]:
    await say_nothing(bot, user, text)
    updated = await bot.slack.wait_for("views.update", predicate=lambda c: not c.failed)
    return {**updated[-1].params["view"], "id": updated[-1].params["view_id"]}


async def say_nothing(bot: Bot, user: str, text: str) -> None:
    bot.slack.clear()
    body = slash_command(user, text, response_url=bot.slack.response_url(user))
    assert (await bot.post(body)).status == 200


def inputs(view: dict[str, Any]) -> dict[str, str]:
    """Input label -> block id."""
    return {b["label"]["text"]: b["block_id"] for b in view["blocks"] if b["type"] == "input"}


# Waiting for poll cycles: how a test shows that something did not happen


async def cycles_of(
    count: int,
    *healths: PollerHealth,
    timeout: float = 30.0,  # noqa: ASYNC109
) -> None:
    """Wait until these in-process pollers together have completed `count` more cycles.

    Summed, because with one database only the lease holder completes cycles.
    """

    async def total() -> int:
        return sum(health.cycles for health in healths)

    await _grown_by(total, count, timeout, pace=0.02)


async def _grown_by(
    total: Callable[[], Awaitable[int]],
    count: int,
    timeout: float,  # noqa: ASYNC109
    *,
    pace: float,
) -> None:
    """Wait until `total()` has grown by `count` (the first may be a cycle under way)."""
    target = await total() + count
    deadline = time.monotonic() + timeout
    while await total() < target:
        if time.monotonic() > deadline:
            raise AssertionError(f"the poller completed no {count} cycles in {timeout} s")
        await asyncio.sleep(pace)


# Processes: `python -m bot …` as a person or a platform runs it


def cli_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without any of the bot's settings, plus `env`.

    A developer's own CFLOW_*/SLACK_* variables must not reach the process under test.
    """
    clean = {name: value for name, value in os.environ.items() if name not in HINTS}
    return {**clean, **(env or {})}


def bot_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot", *args]


def run_cli(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI to its end; blocking, so only where no server shares the loop."""
    return subprocess.run(
        bot_command(*args),
        cwd=cwd,
        env=cli_environment(env),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def run_cli_async(
    *args: str, env: Mapping[str, str], cwd: Path, stdin: bytes | None = None
) -> tuple[int, str, str]:
    """Run the CLI to its end without blocking the loop that serves the sandbox and Slack.

    `stdin` is typed in (a user key for `users link`); returns (status, stdout, stderr).
    """
    process = await spawn(
        *args,
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


Stream = int | IO[Any] | None


async def spawn(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: Stream = subprocess.DEVNULL,
    stdout: Stream = subprocess.DEVNULL,
    stderr: Stream = subprocess.DEVNULL,
) -> asyncio.subprocess.Process:
    """Start `python -m bot *args` with only the settings given in `env`."""
    return await asyncio.create_subprocess_exec(
        *bot_command(*args),
        cwd=cwd,
        env=cli_environment(env),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
    )


SERVING = re.compile(r"Serving Slack on (http://\S+?)/slack/events")


class Stderr:
    """A process's stderr, read as it comes: copied on to `sink` (a file open in binary
    mode; PIPE and DEVNULL: nowhere), kept whole, and watched for the line of the bot's
    log that says where it serves."""

    def __init__(self, stream: asyncio.StreamReader, sink: Stream) -> None:
        self._chunks: list[bytes] = []
        self._url: str | None = None
        self._news = asyncio.Event()
        self._reading = asyncio.create_task(self._read(stream, sink))

    async def _read(self, stream: asyncio.StreamReader, sink: Stream) -> None:
        while chunk := await stream.read(65536):
            self._chunks.append(chunk)
            if sink is not None and not isinstance(sink, int):
                sink.write(chunk)
                sink.flush()
            if self._url is None and (found := SERVING.search(self.text())):
                self._url = found[1]
            self._news.set()
        self._news.set()

    def text(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")

    async def served_at(self, timeout: float) -> str:  # noqa: ASYNC109
        """The URL the process serves on, once its log has said it."""
        deadline = time.monotonic() + timeout
        while self._url is None:
            if self._reading.done():
                raise AssertionError(f"the bot ended before it served:\n{self.text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot did not serve in {timeout} s:\n{self.text()}")
            self._news.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), max(0.0, deadline - time.monotonic()))
        return self._url

    async def whole(self) -> str:
        """Everything, once the process has closed it (it has ended)."""
        await self._reading
        return self.text()


@dataclass
class BotProcess:
    """A `cflow-bot serve` process: its process, its URL, and what its /healthz says."""

    process: asyncio.subprocess.Process
    url: str
    http: aiohttp.ClientSession
    stderr: Stderr

    async def health(self) -> tuple[int, dict[str, Any]]:
        async with self.http.get(self.url + "/healthz") as response:
            return response.status, await response.json()

    async def healthy(self, timeout: float = 20.0) -> dict[str, Any]:  # noqa: ASYNC109
        """Wait until /healthz answers 200; its body."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise AssertionError(f"the bot exited with {self.process.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                status, body = await self.health()
                if status == 200:
                    return body
            await asyncio.sleep(0.1)
        raise AssertionError(f"the bot never answered /healthz in {timeout} s")

    async def cycles(self) -> int:
        """Poll cycles this process has completed (/healthz `poller_loop.cycles`)."""
        _, body = await self.health()
        return int((body.get("poller_loop") or {}).get("cycles", 0))

    async def stop(self) -> tuple[int, str]:
        """SIGTERM, as a platform stops it; its exit status and whatever it wrote to stderr."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.process.wait(), 30)
        err = await asyncio.wait_for(self.stderr.whole(), 30)
        assert self.process.returncode is not None
        return self.process.returncode, err


async def start_serving(
    env: Mapping[str, str],
    cwd: Path,
    http: aiohttp.ClientSession,
    *,
    stdout: Stream = subprocess.DEVNULL,
    stderr: Stream = subprocess.DEVNULL,
    timeout: float = 60.0,  # noqa: ASYNC109
) -> BotProcess:
    """`cflow-bot serve` on a port the system picks (PORT=0, so no two tests running side
    by side can want the same one), once its log has said which; its stderr goes on to
    `stderr` as it comes. The caller stops it."""
    process = await spawn(
        "serve",
        "--host",
        "127.0.0.1",
        env={**env, "PORT": "0"},
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    read = Stderr(process.stderr, stderr)
    served = BotProcess(process, "", http, read)
    try:
        served.url = await read.served_at(timeout)
    except BaseException:
        if process.returncode is None:
            process.kill()
        await served.stop()
        raise
    return served


@contextlib.asynccontextmanager
async def serving(
    env: Mapping[str, str],
    cwd: Path,
    http: aiohttp.ClientSession,
    *,
    stdout: Stream = subprocess.DEVNULL,
    stderr: Stream = subprocess.DEVNULL,
) -> AsyncIterator[BotProcess]:
    """`start_serving`, stopped by SIGTERM on exit unless it has ended."""
    served = await start_serving(env, cwd, http, stdout=stdout, stderr=stderr)
    try:
        yield served
    finally:
        await served.stop()


async def process_cycles(
    count: int,
    *processes: BotProcess,
    timeout: float = 30.0,  # noqa: ASYNC109
) -> None:
    """Wait until these processes together have completed `count` more poll cycles."""

    async def total() -> int:
        return sum([await process.cycles() for process in processes])

    await _grown_by(total, count, timeout, pace=0.05)
