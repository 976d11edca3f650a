"""A long run of mixed faults on two instances: nothing lost, repeated or stranded.

Two `cflow-bot serve` processes share one PostgreSQL database (through a proxy that can
cut it), one Slack stand-in and one Cflow sandbox. For `BENCH_FAULT_SECONDS` (90) a
seeded schedule mixes, as production brings them: new requests; decisions, send-backs
and deletions made in Cflow's web app; Approve clicks by reviewers (some twice at once,
on both instances) and by people who are not reviewers; Cflow answering 500, 429 and
slowly; Slack answering 429 and internal_error, and losing answers after a post took
effect; one reviewer whose DMs Slack refuses; a 5 s database cut; and a SIGKILL of the
polling instance, restarted. Then the faults stop, the bot settles, and the end state is
checked: every pending request has one live card showing its stage; no decided one has
a live button anywhere; each linked reviewer of a current stage has one live DM for it;
no thread line is repeated; every click was answered and none acted twice; under 1 % of
Slack calls were answered 429. Run with the command in the README's Performance section
(`BENCH_SEED` picks another schedule; `BENCH_FAULT_LOGS=<folder>` keeps each instance's log).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.devtools.cflow_standin.records import SYSTEM_ACTOR, SandboxError
from bot.devtools.slack_standin.payloads import block_action, form, sign
from bot.devtools.slack_standin.slack import SlackStandIn, StoredMessage
from bot.store import open_store
from bot.store.records import Link
from tests.benchmarks.harness import report
from tests.harness import PEOPLE, BotProcess, Sandbox, process_cycles, start_serving
from tests.tcp_proxy import TcpProxy
from tests.test_faults import through

SEED = int(os.environ.get("BENCH_SEED", "7"))
SECONDS = float(os.environ.get("BENCH_FAULT_SECONDS", "90"))
INTERVAL = 1.0
RATE_SCALE = 10.0  # Slack's limits ten times faster on both sides: more happens per minute
SECRET = "fault-secret"
CHANNEL = "C0NOTIFY"
LINKED = ("U0BOB", "U0CAROL", "U0ALICE")
UNDELIVERABLE = "U0ALICE"  # Slack refuses her DMs (user_disabled) throughout
APPROVE = "cflow_approve"


@dataclass
class Run:
    """What the schedule did, to check against at the end."""

    clicks: list[str] = field(default_factory=list)  # each acknowledged click's response_url
    unacknowledged: int = 0  # clicks sent to an instance being killed: Slack shows its error
    sent_to: dict[str, tuple[str, float]] = field(default_factory=dict)  # click: (url, when)
    killed: tuple[str, float] | None = None  # the killed instance's url, and when
    deleted: set[str] = field(default_factory=set)
    kills: int = 0
    actions: Counter[str] = field(default_factory=Counter)


async def test_mixed_faults_on_two_instances(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, postgres_url: str
) -> None:
    rng = random.Random(SEED)
    target = urlsplit(postgres_url)
    async with (
        TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy,
        SlackStandIn(rate_scale=RATE_SCALE) as slack,
    ):
        for user, name in PEOPLE.items():
            slack.add_user(user, f"{name}@example.com", name)
        slack.add_channel(CHANNEL, "approvals")
        slack.refuse(UNDELIVERABLE, "user_disabled", methods=["chat.postMessage"])
        env = environment(sandbox, slack, through(proxy, postgres_url))
        await link(postgres_url, env, sandbox)
        run = Run()
        async with instances(env, tmp_path, http) as bots:
            started = time.monotonic()
            await mix(rng, run, bots, sandbox, slack, proxy, http, env, tmp_path)
            mixed = time.monotonic() - started
            await settle(bots, sandbox, slack)
        figures = check(run, sandbox, slack)
    report(f"{SECONDS:g} s of mixed faults on two instances (seed {SEED})", figures)
    assert figures["problems"] == 0, figures["problem list"]
    assert figures["Slack calls answered 429, %"] < 1.0
    assert mixed < SECONDS + 60


def environment(sandbox: Sandbox, slack: SlackStandIn, database_url: str) -> dict[str, str]:
    return {
        "CFLOW_BASE_URL": sandbox.url,
        "CFLOW_API_KEY": sandbox.state.api_key,
        "CFLOW_USERNAME": "cflow-bot",
        "CFLOW_USER_KEY": "cflow-bot-key",
        "CFLOW_TIMEOUT": "2",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
        "SLACK_RATE_SCALE": str(RATE_SCALE),
        "CFLOW_NOTIFY_CHANNEL": CHANNEL,
        "CFLOW_POLL_INTERVAL": str(INTERVAL),
        "CFLOW_BURST_LIMIT": "100",  # a card each: every card is checked
        "CFLOW_REMIND_AFTER": "0",
        "CFLOW_ESCALATE_AFTER": "0",
        "DATABASE_URL": database_url,
        "CFLOW_BOT_SECRET_KEY": Fernet.generate_key().decode(),
    }


async def link(postgres_url: str, env: dict[str, str], sandbox: Sandbox) -> None:
    store = await open_store(postgres_url, [env["CFLOW_BOT_SECRET_KEY"]])
    try:
        for user in LINKED:
            name = PEOPLE[user]
            key = SecretStr(sandbox.state.users[name].user_key)
            await store.save_link(Link(user, name, key))
    finally:
        await store.close()


@dataclass
class World:
    """What each scheduled action acts on, and records in."""

    run: Run
    bots: Instances
    sandbox: Sandbox
    slack: SlackStandIn
    http: aiohttp.ClientSession


def open_log(started: int) -> IO[bytes] | None:
    """The file the `started`-th instance's stderr goes to when `BENCH_FAULT_LOGS` names a
    folder."""
    folder = os.environ.get("BENCH_FAULT_LOGS")
    if not folder:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    return open(Path(folder) / f"serve-{started}.log", "ab")  # written until the process ends


@dataclass
class Instances:
    """Two serve processes; either may be killed and started again."""

    env: dict[str, str]
    cwd: Path
    http: aiohttp.ClientSession
    running: list[BotProcess] = field(default_factory=list)
    started: int = 0

    async def start(self) -> BotProcess:
        self.started += 1
        log = open_log(self.started)
        bot = await start_serving(self.env, self.cwd, self.http, stderr=log or subprocess.DEVNULL)
        await bot.healthy(timeout=60)
        self.running.append(bot)
        return bot

    async def polling(self) -> BotProcess:
        for _ in range(200):
            for bot in self.running:
                with contextlib.suppress(aiohttp.ClientError):
                    if (await bot.health())[1].get("polling_here"):
                        return bot
            await asyncio.sleep(0.05)
        raise AssertionError("no instance polls")


@contextlib.asynccontextmanager
async def instances(
    env: dict[str, str], cwd: Path, http: aiohttp.ClientSession
) -> AsyncIterator[Instances]:
    bots = Instances(env, cwd, http)
    await bots.start()
    await bots.start()
    try:
        yield bots
    finally:
        for bot in bots.running:
            if bot.process.returncode is None:
                await bot.stop()


async def mix(
    rng: random.Random,
    run: Run,
    bots: Instances,
    sandbox: Sandbox,
    slack: SlackStandIn,
    proxy: TcpProxy,
    http: aiohttp.ClientSession,
    env: dict[str, str],
    cwd: Path,
) -> None:
    state = sandbox.state
    deadline = time.monotonic() + SECONDS
    cut_at, kill_at = SECONDS * 0.3, SECONDS * 0.6
    start = time.monotonic()
    while time.monotonic() < deadline:
        elapsed = time.monotonic() - start
        if cut_at is not None and elapsed > cut_at:
            cut_at = None
            proxy.cut()
            await asyncio.sleep(5.0)  # the database is away for 5 s
            proxy.restore()
            run.actions["database cut"] += 1
        if kill_at is not None and elapsed > kill_at:
            kill_at = None
            victim = await bots.polling()
            run.killed = (victim.url, time.monotonic())
            victim.process.kill()  # SIGKILL
            await victim.process.wait()
            bots.running.remove(victim)
            await bots.start()
            run.kills += 1
        action = rng.choice(ACTIONS)
        with contextlib.suppress(SandboxError, LookupError, IndexError):
            await action(rng, World(run, bots, sandbox, slack, http))
        run.actions[action.__name__] += 1
        await asyncio.sleep(rng.uniform(0.1, 0.4))
    state.latency = 0.0
    state.failures.clear()


async def new_request(rng: random.Random, w: World) -> None:
    workflow = rng.choice(["1001", "1002", "1003"])
    fields: dict[str, Any] = {"Amount": rng.randint(5, 500), "Vendor": "Acme", "Days": 1}
    w.sandbox.state.add_request(workflow, fields, "dave")


async def decided_in_cflow(rng: random.Random, w: World) -> None:
    workflow, request = rng.choice(pending(w.sandbox))
    reviewer = rng.choice(request.current_reviewers)
    if rng.random() < 0.7:
        w.sandbox.state.approve(workflow, request.id, reviewer, "in the web app")
    else:
        w.sandbox.state.reject(workflow, request.id, reviewer, "in the web app")


async def sent_back(rng: random.Random, w: World) -> None:
    ended = [
        (w, r)
        for w, requests in w.sandbox.state.requests.items()
        if w in ("1001", "1002", "1003")
        for r in requests.values()
        if r.status in ("approved", "rejected")
    ]
    workflow, request = rng.choice(ended)
    w.sandbox.state.set_status(workflow, request.id, "pending")


async def deleted(rng: random.Random, w: World) -> None:
    workflow, request = rng.choice(pending(w.sandbox))
    w.sandbox.state.delete(workflow, request.id)
    w.run.deleted.add(request.id)


async def clicked(rng: random.Random, w: World) -> None:
    """A reviewer's Approve on a live card; one in three twice at once, on both
    instances; one in five by someone who is not a reviewer."""
    cards = [m for m in w.slack.messages(CHANNEL) if not m.thread_ts and has_approve(m)]
    card = rng.choice(cards)
    rid = request_of(card)
    found = next((r for _, r in pending(w.sandbox) if r.id == rid), None)
    if found is None:
        return
    names = {name: user for user, name in PEOPLE.items() if user in LINKED}
    reviewers = [names[n] for n in found.current_reviewers if n in names]
    others = [u for u in LINKED if PEOPLE[u] not in found.current_reviewers]
    stranger = rng.random() < 0.2 and others
    user = rng.choice(others) if stranger else rng.choice(reviewers)
    twice = rng.random() < 0.33
    targets = w.bots.running if twice else [rng.choice(w.bots.running)]
    await asyncio.gather(*(click(w.http, w.slack, bot, card, user, w.run) for bot in targets))


async def cflow_fails(rng: random.Random, w: World) -> None:
    state = w.sandbox.state
    kind = rng.choice(["500", "429", "slow"])
    w.run.actions[f"cflow {kind}"] += 1
    if kind == "500":
        state.fail_next(rng.randint(1, 3), status=500)
    elif kind == "429":
        state.fail_next(1, status=429, retry_after=1)
    else:
        state.latency = 2.5  # beyond CFLOW_TIMEOUT for a moment: calls hang and time out
        await asyncio.sleep(1.0)
        state.latency = 0.0


async def slack_fails(rng: random.Random, w: World) -> None:
    kind = rng.choice(["429", "5xx", "lost"])
    w.run.actions[f"slack {kind}"] += 1
    if kind == "429":  # injected: not counted against the pacing
        w.slack.fail_next(rng.choice(["chat.postMessage", "chat.update"]), "ratelimited")
    elif kind == "5xx":
        w.slack.fail_next(rng.choice(["chat.postMessage", "chat.update"]), "internal_error")
    else:
        w.slack.lose_answer_of_next("chat.postMessage")


ACTIONS = (
    new_request,
    new_request,
    new_request,
    decided_in_cflow,
    sent_back,
    deleted,
    clicked,
    clicked,
    clicked,
    cflow_fails,
    slack_fails,
)


async def click(
    http: aiohttp.ClientSession,
    slack: SlackStandIn,
    bot: BotProcess,
    card: StoredMessage,
    user: str,
    run: Run,
) -> None:
    button = next(
        {**element, "block_id": block.get("block_id")}
        for block in card.blocks or []
        for element in block.get("elements", [])
        if element.get("action_id") == APPROVE
    )
    answer_to = f"click-{len(run.clicks) + run.unacknowledged}"
    action = {"action_id": APPROVE, "block_id": button["block_id"], "type": "button"}
    payload = block_action(
        user,
        action | {"value": button["value"]},
        channel=card.channel,
        message={"ts": card.ts, "text": card.text, "blocks": card.blocks},
        response_url=slack.response_url(answer_to),
    )
    body = form(payload)
    try:
        async with http.post(
            bot.url + "/slack/events", data=body, headers=sign(body, SECRET)
        ) as response:
            await response.read()
            acknowledged = response.status == 200
    except aiohttp.ClientError:  # an instance being killed
        acknowledged = False
    if acknowledged:
        run.clicks.append(answer_to)
        run.sent_to[answer_to] = (bot.url, time.monotonic())
    else:
        run.unacknowledged += 1


async def settle(bots: Instances, sandbox: Sandbox, slack: SlackStandIn) -> None:
    """The faults have stopped: enough cycles for every retry to come due and be done."""
    await process_cycles(8, *bots.running, timeout=120)
    for _ in range(600):
        bodies = [(await bot.health())[1] for bot in bots.running]
        if all(not body.get("delivering") for body in bodies):
            break
        await asyncio.sleep(0.1)
    await process_cycles(3, *bots.running, timeout=60)


def check(run: Run, sandbox: Sandbox, slack: SlackStandIn) -> dict[str, Any]:
    problems: list[str] = []
    live = [m for m in slack.messages() if not m.deleted]
    by_request: dict[str, list[StoredMessage]] = {}
    for message in live:
        rid = request_of(message)
        if rid:
            by_request.setdefault(rid, []).append(message)
    for workflow, request in all_requests(sandbox):
        mine = by_request.get(request.id, [])
        cards = [m for m in mine if m.channel == CHANNEL and not m.thread_ts]
        if request.status == "pending":
            stage = sandbox.state.workflows[workflow].stage(request.current_stage)
            if len(cards) != 1 or not has_approve(cards[0]):
                problems.append(f"{request.id}: {len(cards)} channel cards, live buttons?")
            elif stage and stage.name not in json.dumps(cards[0].blocks):
                problems.append(f"{request.id}: its card does not show stage {stage.name}")
            for user in LINKED:
                if PEOPLE[user] in request.current_reviewers and user != UNDELIVERABLE:
                    dms = [m for m in mine if m.channel == slack.dm_channel(user)]
                    if sum(1 for m in dms if has_approve(m)) != 1:
                        problems.append(f"{request.id}: {user} has no one live DM for it")
        elif any(has_approve(m) for m in mine):
            problems.append(f"{request.id} is {request.status} but has live buttons")
    # Each message names its request, kind and slot (a thread line: the event it tells):
    # the same one twice is a repeat.
    posted = Counter((m.channel, *identity(m)) for m in live if identity(m) is not None)
    problems += [f"posted twice: {key}" for key, count in posted.items() if count > 1]
    answered = {c.token for c in slack.calls("response_url")}
    unanswered = [name for name in run.clicks if name not in answered]
    # A click acknowledged just before its instance was SIGKILLed dies with it.
    died = [name for name in unanswered if died_with_the_kill(run, name)]
    if len(unanswered) > len(died):
        problems.append(f"{len(unanswered) - len(died)} clicks never answered")
    for _, request in all_requests(sandbox):
        people = [entry.by for entry in request.history]  # a send-back is the system's
        if any(a == b != SYSTEM_ACTOR for a, b in itertools.pairwise(people)):
            problems.append(f"{request.id}: one person decided twice in a row")
    for rid in run.deleted:
        if any(has_approve(m) for m in by_request.get(rid, [])):
            problems.append(f"{rid} was deleted but has live buttons")
    named = {p.split(":")[0].split()[0] for p in problems}
    for rid in sorted(named):
        for m in by_request.get(rid, []):
            busy = "⏳" if "cflow_busy" in json.dumps(m.blocks) else ""
            problems.append(f"  {rid} {m.channel} {identity(m)} {busy} {(m.text or '')[:70]}")
    calls = slack.calls()
    limited = sum(1 for c in calls if c.error == "ratelimited")
    injected = run.actions["slack 429"]
    return {
        "actions": dict(run.actions),
        "clicks acknowledged": len(run.clicks),
        "clicks sent to an instance being killed": run.unacknowledged,
        "clicks acknowledged just before a SIGKILL, lost with it": len(died),
        "instances killed": run.kills,
        "requests": len(all_requests(sandbox)),
        "Slack calls": len(calls),
        "Slack calls answered 429, %": 100 * max(0, limited - injected) / max(1, len(calls)),
        "problems": len([p for p in problems if not p.startswith("  ")]),
        "problem list": problems[:60],
    }


def died_with_the_kill(run: Run, click: str) -> bool:
    if run.killed is None:
        return False
    url, when = run.sent_to[click]
    killed_url, killed_at = run.killed
    return url == killed_url and killed_at - 5.0 <= when <= killed_at


def pending(sandbox: Sandbox) -> list[tuple[str, Any]]:
    return [(w, r) for w, r in all_requests(sandbox) if r.status == "pending"]


def all_requests(sandbox: Sandbox) -> list[tuple[str, Any]]:
    return [
        (w, r)
        for w, requests in sandbox.state.requests.items()
        if sandbox.state.workflows[w].status == "active"
        for r in requests.values()
        if r.status != "draft"
    ]


def request_of(message: StoredMessage) -> str | None:
    payload = (message.metadata or {}).get("event_payload") or {}
    return payload.get("request_id")


def identity(message: StoredMessage) -> tuple[str, str, str] | None:
    payload = (message.metadata or {}).get("event_payload") or {}
    if "request_id" not in payload:
        return None
    return str(payload["request_id"]), str(payload.get("kind")), str(payload.get("slot"))


def has_approve(message: StoredMessage) -> bool:
    return f'"action_id": "{APPROVE}"' in json.dumps(message.blocks)
