"""The Slack stand-in answers the real slack_sdk client the way Slack would."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.devtools.slack_standin.payloads import sign
from bot.devtools.slack_standin.slack import SlackStandIn
from bot.outbound.limits import LIMITS, POSTING, TIER_3

TOKEN = "xoxb-test-token"
BLOCKS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Approve* request 42?"}},
    {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "text": {"type": "plain_text", "text": "Approve"},
            }
        ],
    },
]


@pytest.fixture
async def fake() -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn(TOKEN) as server:
        yield server


@pytest.fixture
def client(fake: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=fake.api_url)


async def test_auth_test_ok_and_invalid_auth(fake: SlackStandIn, client: AsyncWebClient) -> None:
    response = await client.auth_test()
    assert response["user_id"] == "UBOT"
    assert response["bot_id"] == "BBOT"
    assert fake.calls("auth.test")[0].token == TOKEN

    bad = AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url)
    with pytest.raises(SlackApiError) as info:
        await bad.auth_test()
    assert info.value.response["error"] == "invalid_auth"
    assert fake.calls("auth.test")[-1].failed


async def test_post_update_and_read_message(fake: SlackStandIn, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C1", text="pending", thread_ts="1.000100")
    second = await client.chat_postMessage(channel="C1", text="other")
    assert posted["channel"] == "C1"
    assert posted["message"]["thread_ts"] == "1.000100"
    assert float(second["ts"]) > float(posted["ts"])

    updated = await client.chat_update(channel="C1", ts=posted["ts"], text="approved")
    assert updated["message"]["text"] == "approved"

    stored = fake.message("C1", posted["ts"])
    assert stored is not None
    assert stored.text == "approved"
    assert stored.thread_ts == "1.000100"
    assert [v["text"] for v in stored.history] == ["pending", "approved"]
    assert [m.text for m in fake.messages("C1")] == ["approved", "other"]

    with pytest.raises(SlackApiError) as info:
        await client.chat_update(channel="C1", ts="9.9", text="nope")
    assert info.value.response["error"] == "message_not_found"


async def test_blocks_round_trip_as_objects(fake: SlackStandIn, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C1", text="fallback", blocks=BLOCKS)
    assert fake.calls("chat.postMessage")[0].params["blocks"] == BLOCKS
    assert posted["message"]["blocks"] == BLOCKS

    # Form-encoded callers (api_call with data=) send blocks as a JSON string.
    await client.api_call(
        "chat.update", data={"channel": "C1", "ts": posted["ts"], "blocks": '[{"type": "divider"}]'}
    )
    stored = fake.message("C1", posted["ts"])
    assert stored is not None
    assert stored.blocks == [{"type": "divider"}]
    assert stored.text == "fallback"


async def test_dm_via_conversations_open(fake: SlackStandIn, client: AsyncWebClient) -> None:
    opened = await client.conversations_open(users="U123")
    again = await client.conversations_open(users="U123")
    dm = opened["channel"]["id"]
    assert dm.startswith("D")
    assert again["channel"]["id"] == dm == fake.dm_channel("U123")

    posted = await client.chat_postMessage(channel="U123", text="hi")
    assert posted["channel"] == dm
    assert [m.text for m in fake.messages(dm)] == ["hi"]
    info = await client.conversations_info(channel=dm)
    assert info["channel"]["is_im"] is True


async def test_rate_limit_is_retried_and_stored_once(fake: SlackStandIn) -> None:
    client = AsyncWebClient(token=TOKEN, base_url=fake.api_url)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    fake.fail_next("chat.postMessage", retry_after=1)

    started = time.monotonic()
    posted = await client.chat_postMessage(channel="C1", text="retry me")
    assert time.monotonic() - started >= 1.0
    assert posted["ok"] is True

    calls = fake.calls("chat.postMessage")
    assert [c.failed for c in calls] == [True, False]
    assert calls[0].error == "ratelimited"
    assert [m.text for m in fake.messages()] == ["retry me"]


async def test_rate_limit_without_retry_handler_raises(
    fake: SlackStandIn, client: AsyncWebClient
) -> None:
    fake.fail_next("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel="C1", text="x")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "7"
    assert fake.messages() == []


async def test_users_channels_and_errors(fake: SlackStandIn, client: AsyncWebClient) -> None:
    fake.add_user("U1", "Ann@Example.com", "ann", is_admin=True, tz="Europe/Berlin")
    fake.add_channel("C2", "approvals", {"U1"}, bot_member=False)
    fake.strict_membership = True

    assert (await client.users_lookupByEmail(email="ann@example.com"))["user"]["id"] == "U1"
    assert (await client.users_info(user="U1"))["user"]["is_admin"] is True
    assert (await client.conversations_info(channel="C2"))["channel"]["is_member"] is False
    assert (await client.conversations_members(channel="C2"))["members"] == ["U1"]
    for call, error in [
        (lambda: client.users_info(user="U404"), "user_not_found"),
        (lambda: client.users_lookupByEmail(email="x@y.z"), "users_not_found"),
        (lambda: client.conversations_info(channel="C404"), "channel_not_found"),
        (lambda: client.chat_postMessage(channel="C2", text="x"), "not_in_channel"),
        (lambda: client.api_call("chat.nope"), "unknown_method"),
    ]:
        with pytest.raises(SlackApiError) as info:
            await call()
        assert info.value.response["error"] == error


async def test_channels_by_name_post_but_only_ids_edit(
    fake: SlackStandIn, client: AsyncWebClient
) -> None:
    for number in range(5):
        fake.add_channel(f"C{number}", f"team-{number}")
    fake.add_channel("G1", "secret", bot_member=False)
    fake.add_channel("G2", "ours")
    names, cursor = [], None
    while True:
        page = await client.conversations_list(
            types="public_channel,private_channel", limit=2, cursor=cursor
        )
        names += [c["name"] for c in page["channels"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert names == [f"team-{n}" for n in range(5)] + ["ours"]
    posted = await client.chat_postMessage(channel="#team-3", text="hello")
    assert posted["channel"] == "C3"
    with pytest.raises(SlackApiError) as info:
        await client.chat_update(channel="#team-3", ts=posted["ts"], text="edited")
    assert info.value.response["error"] == "channel_not_found"
    await client.chat_update(channel="C3", ts=posted["ts"], text="edited")


def person_picker(element: dict[str, object]) -> dict[str, object]:
    block = {
        "type": "input",
        "block_id": "who",
        "label": {"type": "plain_text", "text": "Reassign to"},
        "element": {"type": "users_select", "action_id": "who"} | element,
    }
    return {"type": "modal", "title": {"type": "plain_text", "text": "Reassign"}, "blocks": [block]}


async def test_a_users_select_is_checked_as_slack_checks_it(client: AsyncWebClient) -> None:
    placeholder = {"type": "plain_text", "text": "Choose a person"}
    fine = person_picker({"placeholder": placeholder, "initial_user": "U0BOB"})
    opened = await client.views_open(trigger_id="123.456", view=fine)
    assert opened["view"]["blocks"][0]["element"]["initial_user"] == "U0BOB"
    for wrong, pointer in (
        ({"options": []}, "/view/blocks/0/element/options"),  # a static_select's, not its own
        ({"initial_user": "bob"}, "/view/blocks/0/element/initial_user"),  # an id, not a name
        ({"placeholder": {"type": "mrkdwn", "text": "*who*"}}, "/view/blocks/0/element"),
        ({"type": "people_select"}, "/view/blocks/0/element"),
    ):
        with pytest.raises(SlackApiError) as info:
            await client.views_open(trigger_id="123.456", view=person_picker(wrong))
        assert info.value.response["error"] == "invalid_arguments"
        messages = info.value.response["response_metadata"]["messages"]
        assert any(f"[json-pointer:{pointer}]" in m for m in messages), messages


async def test_views_and_response_url(fake: SlackStandIn, client: AsyncWebClient) -> None:
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Reject"}, "blocks": []}
    opened = await client.views_open(trigger_id="123.456", view=modal)
    view = opened["view"]
    assert view["id"] and view["hash"]
    updated = await client.views_update(view_id=view["id"], hash=view["hash"], view=modal)
    assert updated["view"]["hash"] != view["hash"]
    with pytest.raises(SlackApiError) as info:
        await client.views_update(view_id=view["id"], hash=view["hash"], view=modal)
    assert info.value.response["error"] == "hash_conflict"

    posted = await client.chat_postMessage(channel="C1", text="pending")
    url = fake.response_url("r1", channel="C1", ts=posted["ts"])
    await AsyncWebhookClient(url).send(text="approved", replace_original=True)
    (call,) = await fake.wait_for("response_url")
    assert call.params["text"] == "approved"
    assert call.token == "r1"
    stored = fake.message("C1", posted["ts"])
    assert stored is not None
    assert stored.text == "approved"


async def test_wait_for_times_out_with_useful_message(
    fake: SlackStandIn, client: AsyncWebClient
) -> None:
    await client.auth_test()
    with pytest.raises(AssertionError, match=r"chat\.postMessage.*auth\.test"):
        await fake.wait_for("chat.postMessage", timeout=0.05)


async def test_slacks_published_limits_are_enforced_when_asked() -> None:
    now = [1000.0]
    async with SlackStandIn(TOKEN, rate_limits=True, clock=lambda: now[0]) as fake:
        client = AsyncWebClient(token=TOKEN, base_url=fake.api_url)  # no retry handler
        fake.add_channel("C1", "one")
        fake.add_channel("C2", "two")
        for _ in range(POSTING.burst):  # a short burst is tolerated
            await client.chat_postMessage(channel="C1", text="card")
        with pytest.raises(SlackApiError) as info:
            await client.chat_postMessage(channel="C1", text="one too many")
        assert info.value.response.status_code == 429
        assert info.value.response.headers["Retry-After"] == "1"
        await client.chat_postMessage(channel="C2", text="another channel is its own")
        now[0] += 1.0  # one message a second per channel
        await client.chat_postMessage(channel="C1", text="in time")
        for _ in range(TIER_3.burst):
            await client.conversations_info(channel="C1")
        with pytest.raises(SlackApiError) as info:
            await client.conversations_info(channel="C2")  # Tier 3 counts the workspace
        assert int(info.value.response.headers["Retry-After"]) == 2  # 50 a minute
    posted = [c for c in fake.calls("chat.postMessage") if not c.failed]
    assert len(posted) == POSTING.burst + 2
    assert LIMITS["chat.update"][0].tier == "Tier 3" and LIMITS["views.publish"][0].tier == "Tier 4"


async def test_answers_to_a_person_are_theirs_alone(
    fake: SlackStandIn, client: AsyncWebClient
) -> None:
    changes: list[int] = []
    fake.on_change(lambda: changes.append(1))
    card = await client.chat_postMessage(channel="C1", text="card", blocks=BLOCKS)
    await client.chat_postEphemeral(channel="C1", user="U1", text="only for U1")
    webhook = AsyncWebhookClient(fake.response_url("r1", channel="C1", ts=card["ts"], user="U2"))
    await webhook.send(text="only for U2")  # a plain answer is ephemeral, to who clicked
    await webhook.send(text="for everyone", response_type="in_channel")
    assert [m.text for m in fake.ephemerals("C1", "U1")] == ["only for U1"]
    [theirs] = fake.ephemerals("C1", "U2")
    assert theirs.text == "only for U2"
    assert [m.text for m in fake.messages("C1")] == ["card", "for everyone"]
    answer = AsyncWebhookClient(fake.response_url("r2", channel="C1", ts=theirs.ts, user="U2"))
    await answer.send(text="replaced", replace_original=True)
    assert [m.text for m in fake.ephemerals("C1", "U2")] == ["replaced"]
    assert len(changes) >= 5, "every change a person would see is announced"


async def test_modals_stack_per_person_and_follow_the_acknowledgement(
    fake: SlackStandIn, client: AsyncWebClient
) -> None:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "One"}, "blocks": []}
    opened = await client.views_open(trigger_id=fake.trigger_for("U1"), view=view)
    root = opened["view"]["id"]
    pushed = await client.views_push(
        trigger_id=fake.trigger_for("U1"),
        view=view | {"title": {"type": "plain_text", "text": "Two"}},
    )
    assert [v["id"] for v in fake.modal_stack("U1")] == [root, pushed["view"]["id"]]
    assert fake.modal_stack("U2") == []
    fake.answer_view("U1", pushed["view"]["id"], {"response_action": "errors", "errors": {}})
    assert len(fake.modal_stack("U1")) == 2, "errors keep the modal open"
    fake.answer_view("U1", pushed["view"]["id"], {})
    assert [v["id"] for v in fake.modal_stack("U1")] == [root], "a plain ack closes it"
    updated = view | {"title": {"type": "plain_text", "text": "Updated"}}
    fake.answer_view("U1", root, {"response_action": "update", "view": updated})
    assert fake.modal_stack("U1")[0]["title"]["text"] == "Updated"
    fake.answer_view("U1", root, {"response_action": "clear"})
    assert fake.modal_stack("U1") == []


def test_requests_are_signed_as_slacks_documented_example() -> None:
    """docs.slack.dev/authentication/verifying-requests-from-slack: its worked example."""
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
        "&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
        "&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com"
        "%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    headers = sign(body, "8f742231b10e8888abcd99yyyzzz85a5", timestamp=1531420618)
    assert headers == {
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def test_signed_requests_pass_the_check_bolt_makes() -> None:
    body = '{"type": "event_callback"}'
    headers = sign(body, "test-signing-secret", content_type="application/json")
    assert SignatureVerifier("test-signing-secret").is_valid_request(body, headers)
    assert not SignatureVerifier("another-secret").is_valid_request(body, headers)
    assert headers["Content-Type"] == "application/json"


STEP_INPUTS = {"workflow": "1001", "fields": "Amount: 1"}  # what a builder sets
RUNNER = "U0DAVE"  # who runs the workflow: Slack fills the step's submitter with them
STEP_OUTPUTS = {
    "request_id": "7",
    "status": "approved",
    "decided_by": "bob",
    "comment": "",
    "url": "https://cflow.example/7",
}


def execute_step(fake: SlackStandIn) -> str:
    """dave runs a workflow that reaches the step."""
    fake.add_user(RUNNER, "dave@example.com", "dave")
    return fake.functions.execute("send_for_approval", STEP_INPUTS, run_by=RUNNER)


def test_function_executed_is_the_event_slack_documents(fake: SlackStandIn) -> None:
    """Shape of docs.slack.dev/reference/events/function_executed, and Bolt reads the
    execution's id, inputs and token from it (the `app.function` listener's arguments).
    The submitter is a user_context (docs.slack.dev/reference/types/user_context-type):
    Slack fills it, `id` and `secret`, from who ran the workflow; no builder can."""
    from slack_bolt.request.internals import (
        extract_function_bot_access_token,
        extract_function_execution_id,
        extract_function_inputs,
    )
    from slack_bolt.request.payload_utils import is_function

    body = json.loads(execute_step(fake))
    execution = fake.functions.latest()
    assert body["type"] == "event_callback" and is_function(body)
    event = body["event"]
    assert event["function"]["callback_id"] == "send_for_approval"
    declared = {p["name"]: p for p in event["function"]["input_parameters"]}
    assert set(declared) == {*STEP_INPUTS, "submitter"}
    assert declared["submitter"]["type"] == "slack#/types/user_context"
    assert event["workflow_execution_id"].startswith("Wx")
    assert extract_function_execution_id(body) == execution.id
    inputs = extract_function_inputs(body)
    context = inputs.pop("submitter")
    assert inputs == STEP_INPUTS
    assert set(context) == {"id", "secret"} and context["id"] == RUNNER
    assert context["secret"].isalnum() and len(context["secret"]) == 72
    assert (
        json.loads(execute_step(fake))["event"]["inputs"]["submitter"]["secret"]
        != (context["secret"])
    )  # a secret of each run's own
    assert extract_function_bot_access_token(body) == execution.token != TOKEN
    with pytest.raises(ValueError, match="submitter is required"):
        fake.functions.execute("send_for_approval", STEP_INPUTS)  # nobody ran it
    for typed in (RUNNER, context):  # Workflow Builder has no field for it
        with pytest.raises(ValueError, match="submitter is a user_context: only Slack"):
            fake.functions.execute(
                "send_for_approval", STEP_INPUTS | {"submitter": typed}, run_by=RUNNER
            )
    with pytest.raises(ValueError, match="no person of the workspace"):
        fake.functions.execute("send_for_approval", STEP_INPUTS, run_by="U0NOBODY")


async def test_a_user_context_output_is_checked_as_slack_types_it(
    fake: SlackStandIn, client: AsyncWebClient
) -> None:
    """The manifest-driven checks know user_context: an object of a user `id` and a
    `secret`, never a bare user id."""
    person = {"type": "slack#/types/user_context", "title": "Person", "is_required": True}
    fake.functions.define(
        "who_ran",
        {"title": "Who ran", "input_parameters": {}, "output_parameters": {"person": person}},
    )
    fake.functions.execute("who_ran", {})
    execution = fake.functions.latest()

    async def complete(value: Any) -> str | None:
        try:
            await client.functions_completeSuccess(
                token=execution.token, function_execution_id=execution.id, outputs={"person": value}
            )
        except SlackApiError as error:
            return str(error.response["error"])
        return None

    for wrong in (RUNNER, {"id": RUNNER}, {"id": "C0CHANNEL", "secret": "s"}, {"secret": "s"}):
        assert await complete(wrong) == "parameter_validation_failed"
        said = fake.calls()[-1].response["response_metadata"]["messages"]
        assert said == ["[ERROR] person must be of type slack#/types/user_context"]
    assert await complete({"id": RUNNER, "secret": "AbCd0123"}) is None


@pytest.fixture
async def unlimited() -> AsyncIterator[SlackStandIn]:
    """A stand-in that lets a test make more calls of a method than its burst."""
    async with SlackStandIn(TOKEN, rate_limits=False) as server:
        yield server


async def test_functions_complete_only_with_the_executions_own_token(
    unlimited: SlackStandIn,
) -> None:
    fake, client = unlimited, AsyncWebClient(token=TOKEN, base_url=unlimited.api_url)
    execute_step(fake)
    execution = fake.functions.latest()

    async def success(token: str, **given: Any) -> str | None:
        arguments = {"function_execution_id": execution.id, "outputs": STEP_OUTPUTS} | given
        try:
            await client.functions_completeSuccess(token=token, **arguments)
        except SlackApiError as error:
            return str(error.response["error"])
        return None

    assert await success(TOKEN) == "access_denied"  # the bot's own token
    assert await success("xwfp-made-up") == "invalid_auth"
    assert (
        await success(execution.token, function_execution_id="Fx0")
        == "function_execution_not_found"
    )
    assert await success(execution.token, outputs={"status": "approved"}) == (
        "parameter_validation_failed"
    )
    assert fake.calls()[-1].response["response_metadata"]["messages"]  # Slack says which
    assert await success(execution.token, outputs=STEP_OUTPUTS | {"status": 1}) == (
        "parameter_validation_failed"
    )
    assert execution.state == "running"
    assert await success(execution.token) is None
    assert (execution.state, execution.outputs) == ("completed", STEP_OUTPUTS)
    assert fake.calls()[-1].token == execution.token  # sent as the Authorization header
    assert await success(execution.token) == "token_revoked"  # it ended with its step


async def test_functions_complete_error_and_a_tokens_end(
    fake: SlackStandIn, client: AsyncWebClient
) -> None:
    executions = []
    for _ in range(3):
        execute_step(fake)
        executions.append(fake.functions.latest())
    failed, revoked, expired = executions
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        await client.functions_completeError(
            token=failed.token, function_execution_id=failed.id, error=" "
        )
    await client.functions_completeError(
        token=failed.token, function_execution_id=failed.id, error="Cflow refused"
    )
    assert (failed.state, failed.error) == ("failed", "Cflow refused")
    fake.functions.revoke(revoked.id)
    fake.functions.expire(expired.id)
    for execution, error in ((revoked, "token_revoked"), (expired, "token_expired")):
        with pytest.raises(SlackApiError, match=error):
            await client.functions_completeError(
                token=execution.token, function_execution_id=execution.id, error="x"
            )
        assert execution.state == "running"
    with pytest.raises(SlackApiError, match="not_authed"):
        await AsyncWebClient(base_url=fake.api_url).functions_completeError(
            function_execution_id=revoked.id, error="x"
        )


async def test_functions_are_held_to_tier_3() -> None:
    assert LIMITS["functions.completeSuccess"] == (TIER_3,)
    assert LIMITS["functions.completeError"] == (TIER_3,)


# App unfurls: people's links, link_shared, chat.unfurl

LINK = "https://cflow.example.com/app/1001/103"


async def _shared(fake: SlackStandIn, text: str = f"see {LINK} please") -> dict:
    fake.add_channel("C1", "approvals", members={"U1"})
    fake.unfurls.set_domains(["example.com"])
    message, event = fake.unfurls.post("U1", "C1", text)
    assert message.text == f"see <{LINK}> please"
    assert event is not None
    return event


async def test_link_shared_reports_only_links_on_the_apps_domains(fake: SlackStandIn) -> None:
    fake.add_channel("C1", "approvals")
    fake.unfurls.set_domains(["example.com"])
    text = f"{LINK} https://evil.com/x https://127.0.0.1/app/1/2 cflow.example.com/no-scheme"
    _, event = fake.unfurls.post("U1", "C1", text)
    assert event is not None
    assert event["links"] == [{"domain": "example.com", "url": LINK}]
    assert event["source"] == "conversations_history"
    assert event["channel"] == "C1" and event["user"] == "U1"
    assert event["unfurl_id"].startswith("C1.")
    _, none = fake.unfurls.post("U1", "C1", "nothing to see https://evil.com/x")
    assert none is None
    with pytest.raises(ValueError):
        fake.unfurls.set_domains([f"d{i}.com" for i in range(6)])


async def test_chat_unfurl_attaches_and_a_later_call_replaces(
    fake: SlackStandIn, client: AsyncWebClient
) -> None:
    event = await _shared(fake)
    first = {LINK: {"blocks": BLOCKS}}
    await client.chat_unfurl(channel="C1", ts=event["message_ts"], unfurls=first)
    later = {LINK: {"blocks": BLOCKS[:1]}}
    await client.chat_unfurl(channel="C1", ts=event["message_ts"], unfurls=later)
    message = fake.message("C1", event["message_ts"])
    assert message is not None and message.attachments is not None
    assert len(message.attachments) == 1  # replaced, not added
    (attachment,) = message.attachments
    assert attachment["is_app_unfurl"] and attachment["app_unfurl_url"] == LINK
    assert attachment["blocks"] == BLOCKS[:1]
    # The person's message stays theirs: the app cannot edit it.
    with pytest.raises(SlackApiError) as info:
        await client.chat_update(channel="C1", ts=event["message_ts"], text="mine now")
    assert info.value.response["error"] == "cant_update_message"


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"ts": "1.0", "unfurls": {}}, "missing_channel"),
        ({"channel": "C1", "unfurls": {}}, "missing_ts"),
        ({"channel": "C404", "ts": "1.0", "unfurls": {}}, "cannot_find_channel"),
        ({"channel": "C1", "ts": "1.0", "unfurls": {}}, "cannot_find_message"),
        ({"unfurl_id": "x", "source": "elsewhere", "unfurls": {}}, "invalid_arguments"),
        ({"unfurl_id": "nope", "source": "composer", "unfurls": {}}, "cannot_find_message"),
    ],
)
async def test_chat_unfurl_refuses_what_slack_refuses(
    fake: SlackStandIn, client: AsyncWebClient, arguments: dict, error: str
) -> None:
    await _shared(fake)
    with pytest.raises(SlackApiError) as info:
        await client.chat_unfurl(**arguments)
    assert info.value.response["error"] == error


RICH = [{"type": "rich_text", "elements": []}]


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({}, "missing_unfurls"),
        ({"unfurls": {"https://cflow.example.com/app/1001/9": {"blocks": BLOCKS}}}, None),
        ({"unfurls": {LINK: {"blocks": RICH}}}, "invalid_blocks"),
        ({"unfurls": {LINK: {"blocks": BLOCKS * 26}}}, "invalid_blocks"),
        ({"unfurls": "not json"}, "invalid_unfurls_format"),
    ],
)
async def test_chat_unfurl_checks_its_urls_and_blocks(
    fake: SlackStandIn, client: AsyncWebClient, extra: dict, error: str | None
) -> None:
    event = await _shared(fake)
    target = {"channel": "C1", "ts": event["message_ts"]}
    with pytest.raises(SlackApiError) as info:
        await client.api_call("chat.unfurl", json=target | extra)
    assert info.value.response["error"] == (error or "cannot_unfurl_url")
    assert fake.message("C1", event["message_ts"]).attachments is None  # nothing applied


async def test_chat_unfurl_of_a_message_with_no_reported_link(
    fake: SlackStandIn, client: AsyncWebClient
) -> None:
    await _shared(fake)
    plain = fake.unfurls.post("U1", "C1", "no links here")[0]
    with pytest.raises(SlackApiError) as info:
        await client.chat_unfurl(channel="C1", ts=plain.ts, unfurls={LINK: {"blocks": BLOCKS}})
    assert info.value.response["error"] == "cannot_unfurl_message"


async def test_user_auth_required_prompts_the_sharer_only(
    fake: SlackStandIn, client: AsyncWebClient
) -> None:
    event = await _shared(fake)
    await client.chat_unfurl(
        channel="C1",
        ts=event["message_ts"],
        user_auth_required=True,
        user_auth_message="Link your account",
        user_auth_blocks=BLOCKS,
    )
    (prompt,) = fake.ephemerals("C1", "U1")
    assert prompt.blocks == BLOCKS and prompt.text == "Link your account"
    assert fake.ephemerals("C1", "U2") == []
    assert fake.message("C1", event["message_ts"]).attachments is None  # no preview
    fake.unfurls.never_ask.add("U1")
    with pytest.raises(SlackApiError) as info:
        await client.chat_unfurl(
            channel="C1", ts=event["message_ts"], user_auth_required=True, user_auth_blocks=BLOCKS
        )
    assert info.value.response["error"] == "cannot_prompt"


async def test_a_composer_preview_by_unfurl_id(fake: SlackStandIn, client: AsyncWebClient) -> None:
    fake.add_channel("C1", "approvals")
    fake.unfurls.set_domains(["cflow.example.com"])
    event = fake.unfurls.compose("U1", "C1", f"look: {LINK}")
    assert event is not None
    assert event["channel"] == "COMPOSER" and event["source"] == "composer"
    assert event["message_ts"] == event["unfurl_id"]
    await client.chat_unfurl(
        unfurl_id=event["unfurl_id"], source="composer", unfurls={LINK: {"blocks": BLOCKS}}
    )
    assert fake.unfurls.draft_unfurls(event["unfurl_id"]) == {LINK: {"blocks": BLOCKS}}
    assert fake.messages("C1") == []  # nothing is posted until the person sends it
