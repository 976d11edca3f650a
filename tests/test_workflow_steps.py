"""The Workflow Builder step "Send for Cflow approval", through the running bot.

Slack's `function_executed` event comes from the stand-in as Slack builds it (with the
step's own short-lived token), signed for real and posted to /slack/events; the request
is decided in the sandbox, as a reviewer would in Cflow; the step's end is read from the
stand-in's `functions.*` calls. "It ended once" is read after completed poll cycles.
The step's submitter is Slack's user context of the person who ran the workflow (the
stand-in fills it, with its secret, as Slack does); nothing else is acted as.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.blocks.ids import Action, Input, View
from bot.blocks.steps import CALLBACK_ID, NOT_RUN_BY
from bot.devtools.slack_standin.functions import SEND_FOR_APPROVAL, Execution
from bot.devtools.slack_standin.payloads import form, slash_command, view_submission
from bot.devtools.slack_standin.slack import SlackCall, SlackStandIn
from bot.store import open_store
from bot.store.records import WorkflowStep
from tests.harness import CHANNEL, PEOPLE, RATE_SCALE, Bot, Sandbox, cycles_of, running_bot

EXPENSE = "1001"  # Expense Claim, reviewed by bob
ENDS = ("functions.completeSuccess", "functions.completeError")


@pytest.fixture
async def step_bot(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> AsyncIterator[Bot]:
    """The bot with dave (who submits) and bob (who reviews) linked."""
    async with running_bot(sandbox, http, tmp_path, linked=("U0DAVE", "U0BOB")) as bot:
        yield bot


async def run_step(
    bot: Bot,
    *,
    workflow: str = "Expense Claim",
    fields: str = "Amount: 120\nPurpose: Team lunch",
    run_by: str = "U0DAVE",
    body: str | None = None,
) -> Execution:
    """A workflow `run_by` someone reached the step: Slack's event, signed and delivered
    to the bot (Slack fills the submitter, a user_context, with that person)."""
    inputs = {"workflow": workflow, "fields": fields}
    body = body or bot.slack.functions.execute(CALLBACK_ID, inputs, run_by=run_by)
    response = await bot.post(body, content_type="application/json")
    assert response.status == 200
    return bot.slack.functions.latest()


async def sent(bot: Bot, execution: Execution) -> WorkflowStep:
    """The step once its request is created (the submitter is told in the bot's DM)."""
    await bot.slack.wait_for("chat.postMessage", predicate=lambda c: _told(c, "U0DAVE"))
    step = await bot.services.store.step_for(execution.id)
    assert step is not None and step.request_id is not None
    return step


def _told(call: SlackCall, user: str) -> bool:
    return call.params.get("channel") == user and "A workflow sent" in call.params.get("text", "")


def ends(slack: SlackStandIn) -> list[SlackCall]:
    return [call for method in ENDS for call in slack.calls(method)]


async def test_the_step_completes_once_with_the_approval_made_in_cflow(step_bot: Bot) -> None:
    execution = await run_step(step_bot)
    context = execution.inputs["submitter"]
    assert context["id"] == "U0DAVE" and len(context["secret"]) > 20  # as Slack sends it
    step = await sent(step_bot, execution)
    assert step.submitter == "U0DAVE"
    [told] = [c for c in step_bot.slack.calls("chat.postMessage") if _told(c, "U0DAVE")]
    assert told.token == step_bot.slack.bot_token  # the bot's own calls keep its token
    request = step_bot.sandbox.state.requests[EXPENSE][step.request_id]
    assert request.submitted_by == "dave"  # sent with dave's own link
    assert request.fields == {"Amount": "120", "Purpose": "Team lunch"}
    await step_bot.cycles(2)
    assert ends(step_bot.slack) == []  # it waits while the request does

    step_bot.sandbox.state.approve(EXPENSE, step.request_id, "bob", comment="Fine <!channel>")
    [call] = await step_bot.slack.wait_for("functions.completeSuccess")
    assert call.token == execution.token  # the step's own token, never the bot's
    assert execution.state == "completed"
    assert execution.outputs == {
        "request_id": step.request_id,
        "status": "approved",
        "decided_by": "bob",
        "comment": "Fine &lt;!channel&gt;",  # Cflow's words, escaped
        "url": step_bot.services.settings.request_url(EXPENSE, step.request_id),
    }
    await step_bot.cycles(3)
    assert len(ends(step_bot.slack)) == 1
    stored = await step_bot.services.store.step_for(execution.id)
    assert stored is not None and stored.outcome == "completed" and stored.completed_at


async def test_slack_hears_back_at_once_while_cflow_is_slow(step_bot: Bot) -> None:
    """Slack waits 3 s for the event's answer: the request is sent after it."""
    step_bot.sandbox.state.latency = 4.0
    started = time.monotonic()
    execution = await run_step(step_bot)
    assert time.monotonic() - started < 3.0
    step_bot.sandbox.state.latency = 0.0
    step = await sent(step_bot, execution)
    assert step.request_id is not None


async def test_a_rejection_in_slack_ends_the_step_with_the_reviewers_reason(
    step_bot: Bot,
) -> None:
    """bob rejects on the channel card, with a reason: the step says rejected, by bob, why."""
    execution = await run_step(step_bot, workflow=EXPENSE, fields='{"Amount": 80}')
    step = await sent(step_bot, execution)
    assert step.request_id is not None
    assert step_bot.sandbox.state.requests[EXPENSE][step.request_id].fields == {"Amount": 80}
    card = await step_bot.channel_card(step.request_id)
    await step_bot.click("U0BOB", card, Action.REJECT)
    [opened] = await step_bot.slack.wait_for("views.open")
    modal = opened.params["view"]
    reason = {Input.REASON: {"type": "plain_text_input", "value": "No receipt"}}
    payload = view_submission(
        "U0BOB", View.REJECT, reason, private_metadata=modal["private_metadata"]
    )
    assert (await step_bot.post(form(payload))).status == 200
    await step_bot.slack.wait_for("functions.completeSuccess")
    assert execution.outputs is not None
    assert execution.outputs["status"] == "rejected"
    assert (execution.outputs["decided_by"], execution.outputs["comment"]) == ("bob", "No receipt")


async def test_a_decision_made_in_slack_ends_the_step_without_waiting_for_a_poll(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The publisher records bob's `/cflow approve` and the step ends then: this bot
    polls once at its start and not again for an hour."""
    async with running_bot(
        sandbox, http, tmp_path, linked=("U0DAVE", "U0BOB"), cflow_poll_interval=3600
    ) as bot:
        await cycles_of(1, bot.services.poller_health)
        execution = await run_step(bot)
        step = await sent(bot, execution)
        cycles = bot.services.poller_health.cycles
        typed = slash_command(
            "U0BOB",
            f"approve {EXPENSE}/{step.request_id}",
            response_url=bot.slack.response_url("U0BOB"),
        )
        assert (await bot.post(typed)).status == 200
        await bot.slack.wait_for("functions.completeSuccess")
        assert bot.services.poller_health.cycles == cycles
        assert execution.outputs is not None
        assert (execution.outputs["status"], execution.outputs["decided_by"]) == ("approved", "bob")


async def test_a_cflow_refusal_fails_the_step_with_cflows_words(step_bot: Bot) -> None:
    execution = await run_step(step_bot, workflow="purchase order", fields="Amount: 300")
    [call] = await step_bot.slack.wait_for("functions.completeError")
    assert call.token == execution.token
    assert execution.state == "failed"
    assert execution.error == "Cflow refused the request: Field 'Vendor' is required"
    assert step_bot.sandbox.calls("createRequest")[-1].status == 400  # Cflow made nothing
    await step_bot.cycles(2)
    assert len(ends(step_bot.slack)) == 1


async def test_a_request_deleted_in_cflow_fails_the_step(step_bot: Bot) -> None:
    execution = await run_step(step_bot)
    step = await sent(step_bot, execution)
    assert step.request_id is not None
    step_bot.sandbox.state.delete(EXPENSE, step.request_id)
    await step_bot.slack.wait_for("functions.completeError")
    assert execution.error == "The request was deleted in Cflow before anyone decided it."
    await step_bot.cycles(3)
    assert len(ends(step_bot.slack)) == 1
    stored = await step_bot.services.store.step_for(execution.id)
    assert stored is not None and stored.outcome == "failed"


async def test_an_unlinked_submitter_is_told_to_link_first(step_bot: Bot) -> None:
    before = len(step_bot.sandbox.calls("createRequest"))
    execution = await run_step(step_bot, run_by="U0CAROL")
    await step_bot.slack.wait_for("functions.completeError")
    assert execution.error is not None
    assert "link your Cflow account first (/cflow link)" in execution.error
    assert len(step_bot.sandbox.calls("createRequest")) == before  # nothing sent as anyone


async def refused_without_a_trace(bot: Bot, execution: Execution, before: int) -> None:
    """The step failed saying who it acts as, and nothing was sent or kept for anyone."""
    [call] = await bot.slack.wait_for("functions.completeError")
    assert call.token == execution.token
    assert execution.state == "failed" and execution.error == NOT_RUN_BY
    await bot.cycles(2)
    assert len(bot.sandbox.calls("createRequest")) == before  # Cflow made nothing
    assert await bot.services.store.step_for(execution.id) is None
    told = [c.params.get("text", "") for c in bot.slack.calls("chat.postMessage")]
    assert not [text for text in told if "A workflow sent" in text]
    assert len(ends(bot.slack)) == 1


async def test_a_user_id_a_builder_typed_is_refused_and_nothing_is_created(
    step_bot: Bot,
) -> None:
    """The step as it was once declared: its submitter a user_id field, into which the
    workflow's builder typed bob (linked). Whoever runs it, nothing is sent as bob."""
    typed_in = copy.deepcopy(SEND_FOR_APPROVAL)
    typed_in["input_parameters"]["submitter"]["type"] = "slack#/types/user_id"
    step_bot.slack.functions.define(CALLBACK_ID, typed_in)
    before = len(step_bot.sandbox.calls("createRequest"))
    inputs = {"workflow": "Expense Claim", "fields": "Amount: 9", "submitter": "U0BOB"}
    body = step_bot.slack.functions.execute(CALLBACK_ID, inputs)
    assert json.loads(body)["event"]["inputs"]["submitter"] == "U0BOB"  # a bare string
    execution = await run_step(step_bot, body=body)
    await refused_without_a_trace(step_bot, execution, before)
    assert "only as the person who runs the workflow" in (execution.error or "")


@pytest.mark.parametrize(
    "context",
    [{"secret": "AbCdEF0123456789"}, {"id": "U0DAVE"}, {"id": ["U0DAVE"], "secret": "x"}, None],
    ids=["no id", "no secret", "id not a string", "none"],
)
async def test_a_user_context_slack_did_not_fill_is_refused(
    step_bot: Bot, context: dict[str, Any] | None
) -> None:
    """Slack's event with the submitter's user context cut short: nobody is acted as."""
    body = json.loads(step_bot.slack.functions.execute(CALLBACK_ID, _inputs(), run_by="U0DAVE"))
    body["event"]["inputs"]["submitter"] = context
    before = len(step_bot.sandbox.calls("createRequest"))
    execution = await run_step(step_bot, body=json.dumps(body))
    await refused_without_a_trace(step_bot, execution, before)


def _inputs() -> dict[str, str]:
    return {"workflow": "Expense Claim", "fields": "Amount: 9"}


@pytest.mark.parametrize(
    ("workflow", "fields", "said"),
    [
        ("Travel", "Amount: 1", "No Cflow workflow you can use is named Travel."),
        ("1001", "Amount 12", "Line 1 of the fields is not `name: value`."),
        ("1001", "[1, 2]", "The fields must be a JSON object"),
        ("1001", '{"Amount": 1', "The fields are not valid JSON"),
        ("1001", "", "The step's fields are empty"),
    ],
)
async def test_inputs_that_cannot_be_read_fail_the_step_saying_why(
    step_bot: Bot, workflow: str, fields: str, said: str
) -> None:
    execution = await run_step(step_bot, workflow=workflow, fields=fields or " ")
    await step_bot.slack.wait_for("functions.completeError")
    assert execution.error is not None and execution.error.startswith(said)


async def test_an_event_delivered_twice_sends_one_request(step_bot: Bot) -> None:
    inputs = {"workflow": "1001", "fields": "Amount: 5"}
    body = step_bot.slack.functions.execute(CALLBACK_ID, inputs, run_by="U0DAVE")
    before = len(step_bot.sandbox.calls("createRequest"))
    await asyncio.gather(run_step(step_bot, body=body), run_step(step_bot, body=body))
    await sent(step_bot, step_bot.slack.functions.latest())
    await step_bot.cycles(2)
    assert len(step_bot.sandbox.calls("createRequest")) == before + 1


async def test_a_revoked_token_is_logged_and_counted_and_never_tried_again(
    step_bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    execution = await run_step(step_bot)
    step = await sent(step_bot, execution)
    step_bot.slack.functions.revoke(execution.id)
    step_bot.sandbox.state.approve(EXPENSE, step.request_id, "bob")
    [call] = await step_bot.slack.wait_for("functions.completeSuccess")
    assert call.error == "token_revoked"
    await step_bot.cycles(3)
    assert len(ends(step_bot.slack)) == 1
    stored = await step_bot.services.store.step_for(execution.id)
    assert stored is not None and stored.outcome == "token_revoked"
    metrics = step_bot.services.metrics.render().decode()
    assert 'cflow_bot_workflow_step_refusals_total{reason="token_revoked"} 1.0' in metrics
    assert "token_revoked" in caplog.text and execution.token not in caplog.text


async def test_slacks_passing_trouble_is_retried_at_the_next_cycle(step_bot: Bot) -> None:
    execution = await run_step(step_bot)
    step = await sent(step_bot, execution)
    step_bot.slack.fail_next("functions.completeSuccess", "internal_error")
    step_bot.sandbox.state.approve(EXPENSE, step.request_id, "bob")
    calls = await step_bot.slack.wait_for(
        "functions.completeSuccess", count=2, predicate=lambda c: True
    )
    assert [c.error for c in calls] == ["internal_error", None]
    assert execution.state == "completed"
    await step_bot.cycles(2)
    assert len(ends(step_bot.slack)) == 2


async def test_a_step_left_while_cflow_was_creating_its_request_fails_saying_so(
    step_bot: Bot,
) -> None:
    """An instance stopped between storing the step and hearing Cflow's answer: whether
    the request exists is not known, so the step is not sent again but fails, once."""
    step_bot.slack.functions.execute(
        CALLBACK_ID, {"workflow": "1001", "fields": "a: 1"}, run_by="U0DAVE"
    )
    execution = step_bot.slack.functions.latest()  # Slack ran it; the bot's answer was lost
    long_ago = datetime.now(UTC) - timedelta(minutes=6)
    left = WorkflowStep(execution.id, SecretStr(execution.token), EXPENSE, "U0DAVE", long_ago)
    await step_bot.services.store.add_step(left)
    before = len(step_bot.sandbox.calls("createRequest"))
    await step_bot.slack.wait_for("functions.completeError")
    assert (
        execution.error is not None
        and "not known whether the request was created" in execution.error
    )
    await step_bot.cycles(2)
    assert len(ends(step_bot.slack)) == 1
    assert len(step_bot.sandbox.calls("createRequest")) == before


async def test_a_pending_step_survives_a_restart(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, database_url: str
) -> None:
    """Sent, the bot stops; approved in Cflow meanwhile; the bot started again on the same
    database ends the step, once, with the token it stored (encrypted) before."""
    settings: dict[str, Any] = {
        "database_url": database_url,
        "cflow_bot_secret_key": Fernet.generate_key().decode(),
    }
    async with _workspace() as slack:
        async with running_bot(
            sandbox, http, tmp_path, slack=slack, linked=("U0DAVE",), **settings
        ) as first:
            execution = await run_step(first)
            step = await sent(first, execution)
        assert ends(slack) == []
        sandbox.state.approve(EXPENSE, step.request_id, "bob", comment="ok")
        async with running_bot(sandbox, http, tmp_path, slack=slack, **settings) as second:
            await slack.wait_for("functions.completeSuccess")
            await second.cycles(3)
        assert len(ends(slack)) == 1
        assert execution.outputs is not None and execution.outputs["status"] == "approved"
    store = await open_store(database_url, [settings["cflow_bot_secret_key"]])
    try:
        rows = await store.open_steps()
    finally:
        await store.close()
    assert rows == []


async def test_two_instances_end_a_step_once(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, postgres_url: str
) -> None:
    """Both instances poll for the lease on one PostgreSQL database; the step, sent
    through one, is ended by whichever polls, once."""
    settings: dict[str, Any] = {
        "database_url": postgres_url,
        "cflow_bot_secret_key": Fernet.generate_key().decode(),
    }
    async with _workspace() as slack:
        async with (
            running_bot(
                sandbox, http, tmp_path / "a", slack=slack, linked=("U0DAVE",), **settings
            ) as one,
            running_bot(sandbox, http, tmp_path / "b", slack=slack, **settings) as other,
        ):
            execution = await run_step(other)
            step = await sent(other, execution)
            sandbox.state.approve(EXPENSE, step.request_id, "bob")
            await slack.wait_for("functions.completeSuccess")
            await cycles_of(3, one.services.poller_health, other.services.poller_health)
            await asyncio.gather(
                one.services.publisher.delivered(), other.services.publisher.delivered()
            )
        assert len(ends(slack)) == 1


async def test_only_one_instance_claims_a_step(database_url: str, key: str) -> None:
    """The store's claim: one live instance at a time; a stopped one's claim is taken."""
    store = await open_store(database_url, [key])
    try:
        now = datetime.now(UTC)
        await store.beat("a", now)
        await store.beat("b", now)
        step = WorkflowStep("Fx1", SecretStr("xwfp-1"), "1001", "U0DAVE", now)
        stored = await store.add_step(step)
        assert stored is not None and stored.id is not None
        assert await store.add_step(step) is None  # the same execution again
        await store.attach_request(stored.id, "7")
        alive = now - timedelta(seconds=10)
        taken = await store.claim_step(stored.id, "a", now, alive)
        assert taken is not None and taken.token.get_secret_value() == "xwfp-1"
        assert await store.claim_step(stored.id, "b", now, alive) is None
        # Nor again by "a" itself: a click's path and a cycle's path on one instance.
        assert await store.claim_step(stored.id, "a", now, alive) is None
        later = now + timedelta(seconds=60)
        assert await store.claim_step(stored.id, "b", later, later - timedelta(seconds=10))
        await store.finish_step(stored.id, "completed", later)
        assert await store.claim_step(stored.id, "a", later, alive) is None
        assert await store.open_steps() == []
    finally:
        await store.close()


async def _raw_token(database_url: str) -> str:
    """What the store keeps of a step's token (never the token itself)."""
    from sqlalchemy import select

    from bot.store.engine import make_engine
    from bot.store.schema import workflow_steps

    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            return str((await conn.execute(select(workflow_steps.c.token_encrypted))).scalar())
    finally:
        await engine.dispose()


async def test_the_steps_token_is_encrypted_at_rest(database_url: str, key: str) -> None:
    store = await open_store(database_url, [key])
    try:
        step = WorkflowStep("Fx2", SecretStr("xwfp-secret"), "1001", "U0DAVE", datetime.now(UTC))
        await store.add_step(step)
    finally:
        await store.close()
    assert "xwfp-secret" not in await _raw_token(database_url)


@contextlib.asynccontextmanager
async def _workspace() -> AsyncIterator[SlackStandIn]:
    """A Slack workspace that outlives the bots started in it (a restart, two instances)."""
    async with SlackStandIn(rate_scale=RATE_SCALE) as slack:
        for user, name in PEOPLE.items():
            slack.add_user(user, f"{name}@example.com", name)
        slack.add_channel(CHANNEL, "approvals")
        yield slack


async def test_reencrypting_rewraps_the_waiting_steps_tokens(database_url: str) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    store = await open_store(database_url, [old])
    try:
        step = WorkflowStep("Fx3", SecretStr("xwfp-3"), "1001", "U0DAVE", datetime.now(UTC))
        await store.add_step(step)
    finally:
        await store.close()
    store = await open_store(database_url, [new, old])
    try:
        assert await store.reencrypt_steps() == 1
    finally:
        await store.close()
    store = await open_store(database_url, [new])  # the old key is gone
    try:
        kept = await store.step_for("Fx3")
    finally:
        await store.close()
    assert kept is not None and kept.token.get_secret_value() == "xwfp-3"
