"""The approvals loop end to end: the running app, the fake Slack server, the sandbox.

Requests from Slack are signed for real and sent over HTTP to the running bot; the bot
talks to the fake Slack Web API and to the Cflow sandbox over real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.blocks.ids import Action, Input, MoreOption, View
from bot.devtools.slack_standin.payloads import (
    event_callback,
    form,
    sign,
    slash_command,
    view_submission,
)
from bot.devtools.slack_standin.slack import SlackStandIn
from bot.runtime.server import RunningBot, run_socket_mode
from bot.settings import load_settings
from bot.store.records import Card, Link
from bot.sync.delivery import card_metadata
from tests.harness import (
    CHANNEL,
    Bot,
    Sandbox,
    button,
    cycles_of,
    has_button,
    mentions,
    new_expense,
    running_bot,
    submit_view,
)


async def test_unsigned_and_stale_requests_are_refused(bot: Bot) -> None:
    body = form({"type": "block_actions", "user": {"id": "U0BOB"}, "actions": []})
    async with bot.http.post(bot.running.url + "/slack/events", data=body) as unsigned:
        assert unsigned.status == 401
    assert (await bot.post(body, timestamp=1)).status == 401
    headers = sign(body, "wrong-secret")
    async with bot.http.post(bot.running.url + "/slack/events", data=body, headers=headers) as bad:
        assert bad.status == 401


async def test_new_request_becomes_a_channel_card_and_a_reviewer_dm(bot: Bot) -> None:
    request_id = new_expense(bot.sandbox, Description="Team lunch")
    card = await bot.channel_card(request_id)
    assert button(card, Action.APPROVE)
    dms = await bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: (c.landed_in or "").startswith("D") and mentions(c.params, request_id),
    )
    assert dms[0].landed_in == bot.slack.dm_channel("U0BOB")
    assert Action.LINK in json.dumps(dms[0].params["blocks"]), "unlinked: invited to link"


async def test_linked_reviewer_approves_as_themselves(bot: Bot) -> None:
    await bot.link("U0BOB")
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    response = await bot.click("U0BOB", card, Action.APPROVE)
    assert response.status == 200
    await bot.slack.wait_for("response_url", predicate=lambda c: "Approved" in json.dumps(c.params))
    approvals = bot.sandbox.calls("approveRequest")
    assert [(c.username, c.path.split("/")[-2]) for c in approvals] == [("bob", request_id)]
    updated = bot.slack.message(CHANNEL, card.ts)
    assert "Approved" in json.dumps(updated.blocks)


async def test_unlinked_click_makes_no_cflow_call(bot: Bot) -> None:
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    await bot.click("U0BOB", card, Action.APPROVE)
    answers = await bot.slack.wait_for("response_url")
    assert "Link" in json.dumps(answers[0].params)
    assert bot.sandbox.calls("approveRequest") == []
    assert bot.sandbox.calls("getRequest") == []


async def test_approval_in_cflow_updates_every_card(bot: Bot) -> None:
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    bot.sandbox.state.approve("1001", request_id, "bob", "done in the web app")
    await bot.slack.wait_for("chat.update", predicate=lambda c: c.params.get("ts") == card.ts)
    final = bot.slack.message(CHANNEL, card.ts)
    assert "cflow_approve" not in json.dumps(final.blocks)


async def test_two_simultaneous_clicks_make_one_cflow_call(bot: Bot) -> None:
    await bot.link("U0BOB")
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    bot.sandbox.state.latency = 0.3
    await asyncio.gather(
        bot.click("U0BOB", card, Action.APPROVE), bot.click("U0BOB", card, Action.APPROVE)
    )
    await bot.slack.wait_for("response_url", count=2)
    assert len(bot.sandbox.calls("approveRequest")) == 1


async def test_channel_mentions_in_fields_arrive_escaped(bot: Bot) -> None:
    request_id = new_expense(bot.sandbox, Description="<!channel> pay <@U0ALICE> now")
    card = await bot.channel_card(request_id)
    raw = json.dumps({"blocks": card.blocks, "text": card.text})
    assert "<!channel>" not in raw and "<@U0ALICE>" not in raw
    assert "&lt;!channel&gt;" in raw


async def test_healthz_reports_store_and_poller(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    # Three intervals without a completed cycle are a 503: at the tests' 0.2 s, a first
    # cycle slowed by a busy machine would be one. This test is about what a healthy bot
    # says, from its start on, not about that window.
    async with running_bot(sandbox, http, tmp_path, cflow_poll_interval=2.0) as bot:
        first = asyncio.create_task(bot.cycles(1))  # its figures land when it ends
        body: dict[str, Any] = {}
        while not body.get("poller"):
            if first.done():
                await first  # its failure, if it failed
            async with bot.http.get(bot.running.url + "/healthz") as response:
                assert response.status == 200
                body = await response.json()
            await asyncio.sleep(0.05)
        await first
    assert body["store"] == "ok"
    assert body["poller"]["workflows"] >= 3 and body["poller"]["errors"] == 0
    assert body["ok"] is True and "reason" not in body


async def submit(
    bot: Bot,
    user: str,
    callback_id: str,
    values: dict[str, Any],
    metadata: str = "",
    view_id: str = "V0TEST",
) -> aiohttp.ClientResponse:
    payload = view_submission(user, callback_id, values, private_metadata=metadata, view_id=view_id)
    return await bot.post(form(payload))


async def open_link_form(bot: Bot, user: str) -> dict[str, Any]:
    """`/cflow link` as the person types it; returns the modal Slack opened."""
    body = slash_command(user, "link", response_url=bot.slack.response_url(user))
    assert (await bot.post(body)).status == 200
    opened = await bot.slack.wait_for("views.open", predicate=lambda c: not c.failed)
    return opened[-1].response["view"]


async def submit_link_form(bot: Bot, user: str, username: str, key: str) -> str:
    """Fill in and submit the link form; returns the text of the view it ends on."""
    bot.slack.clear()  # what follows waits for this submission's calls, not earlier ones
    form_view = await open_link_form(bot, user)
    values = {
        Input.CFLOW_USERNAME: {"type": "plain_text_input", "value": username},
        Input.USER_KEY: {"type": "plain_text_input", "value": key},
    }
    response = await submit(bot, user, View.LINK, values, view_id=form_view["id"])
    assert response.status == 200
    final = await bot.slack.wait_for(
        "views.update",
        predicate=lambda c: not c.failed and "Checking" not in json.dumps(c.params),
    )
    return json.dumps(final[-1].params["view"])


async def test_reject_opens_a_modal_and_sends_the_reason_as_the_comment(bot: Bot) -> None:
    await bot.link("U0BOB")
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    await bot.click("U0BOB", card, Action.REJECT)
    opened = await bot.slack.wait_for("views.open")
    modal = opened[0].params["view"]
    assert modal["callback_id"] == View.REJECT
    assert bot.sandbox.calls("rejectRequest") == []
    reason = {"type": "plain_text_input", "value": "Over budget"}
    response = await submit(
        bot, "U0BOB", View.REJECT, {Input.REASON: reason}, modal["private_metadata"]
    )
    assert response.status == 200
    await bot.slack.wait_for("chat.update", predicate=lambda c: c.params.get("ts") == card.ts)
    rejects = bot.sandbox.calls("rejectRequest")
    assert [(c.username, c.body) for c in rejects] == [("bob", {"comment": "Over budget"})]
    assert bot.sandbox.state.requests["1001"][request_id].status == "rejected"


async def test_a_stale_card_approves_nothing_at_the_next_stage(bot: Bot) -> None:
    await bot.link("U0BOB")
    request_id = bot.sandbox.state.add_request("1003", {"Days": 2}, "dave").id  # bob or alice
    card = await bot.channel_card(request_id)
    bot.sandbox.state.approve("1003", request_id, "alice")  # decided elsewhere meanwhile
    await bot.click("U0BOB", card, Action.APPROVE)
    answers = await bot.slack.wait_for("response_url")
    assert "moved on" in json.dumps(answers[0].params)
    assert bot.sandbox.calls("approveRequest") == []


async def test_a_cflow_refusal_is_shown_in_cflows_words(bot: Bot) -> None:
    await bot.link("U0BOB")
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    bot.sandbox.state.deny("bob", "approveRequest")  # Cflow's own rules say no
    await bot.click("U0BOB", card, Action.APPROVE)
    answers = await bot.slack.wait_for("response_url")
    assert "You do not have access to this request" in json.dumps(answers[0].params)
    assert bot.sandbox.state.requests["1001"][request_id].status == "pending"


async def test_a_huge_field_still_posts_within_the_limits(bot: Bot) -> None:
    request_id = new_expense(bot.sandbox, Notes="x" * 100_000)
    card = await bot.channel_card(request_id)
    assert len(card.blocks) <= 50
    for block in card.blocks:
        text = (block.get("text") or {}).get("text", "")
        assert len(text) <= 3000


async def test_a_slack_429_delays_a_card_but_loses_nothing(bot: Bot) -> None:
    bot.slack.fail_next("chat.postMessage", "ratelimited", count=1, retry_after=1)
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    assert card is not None
    failed = [c for c in bot.slack.calls("chat.postMessage") if c.failed]
    assert failed, "the fake answered 429 once"


async def test_wrong_user_key_is_an_inline_error_and_saves_nothing(bot: Bot) -> None:
    shown = await submit_link_form(bot, "U0BOB", "bob", "not-bobs-key")
    assert "did not accept" in shown and "not-bobs-key" not in shown
    assert '"initial_value": "bob"' in shown, "what the person typed is kept"
    assert await bot.running.services.store.link_for("U0BOB") is None


async def test_link_with_a_matching_email_is_saved(bot: Bot) -> None:
    form_view = await open_link_form(bot, "U0BOB")
    assert "bob" in json.dumps(form_view), "pre-filled from the matching email"
    shown = await submit_link_form(bot, "U0BOB", "bob", "bob-key")
    assert "Linked" in shown
    link = await bot.running.services.store.link_for("U0BOB")
    assert link is not None and link.cflow_username == "bob"


async def test_someone_elses_key_cannot_be_linked_to_my_slack_account(bot: Bot) -> None:
    shown = await submit_link_form(bot, "U0DAVE", "bob", "bob-key")  # not dave's email
    assert "does not match" in shown
    assert await bot.running.services.store.link_for("U0DAVE") is None


@pytest.mark.slow
async def test_a_restarted_bot_posts_no_duplicate(bot: Bot) -> None:
    request_id = new_expense(bot.sandbox)
    await bot.channel_card(request_id)
    await bot.cycles(1)  # let the first bot finish its cycle
    before = len(bot.slack.calls("chat.postMessage"))
    async with RunningBot(bot.running.settings, host="127.0.0.1", port=0) as second:
        assert second.services is not None
        # Five cycles with the new process running (whichever of the two holds the lease).
        await cycles_of(5, bot.services.poller_health, second.services.poller_health)
        assert second.services.poller_health.last_progress is not None, "it took its turns"
    assert len(bot.slack.calls("chat.postMessage")) == before
    later = new_expense(bot.sandbox)
    await bot.channel_card(later)  # and the first bot still announces new work


async def test_a_post_abandoned_by_a_dead_process_is_made_again(bot: Bot) -> None:
    store = bot.running.services.store
    request_id = "990"
    stale = Card("1001", request_id, CHANNEL, "channel")
    await store.claim_card(stale)  # claimed, then the process died before posting
    async with bot.running.services.store.engine.begin() as connection:
        await connection.exec_driver_sql(
            "UPDATE cards SET created_at = '2020-01-01 00:00:00' WHERE request_id = '990'"
        )
    bot.sandbox.state.add_request("1001", {"Amount": 1}, "dave", request_id=request_id)
    card = await bot.channel_card(request_id)
    assert card.ts


async def test_a_decision_moves_the_dm_to_the_next_stage_and_tells_the_submitter(bot: Bot) -> None:
    await bot.link("U0BOB")
    request_id = bot.sandbox.state.add_request("1002", {"Vendor": "Acme", "Amount": 5}, "dave").id
    card = await bot.channel_card(request_id)
    await bot.click("U0BOB", card, Action.APPROVE)
    carol_dm = bot.slack.dm_channel("U0CAROL")
    await bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: c.landed_in == carol_dm and mentions(c.params, request_id),
    )
    audit = await bot.slack.wait_for(
        "chat.postMessage", predicate=lambda c: c.params.get("thread_ts") == card.ts
    )
    assert "<@U0BOB>" in audit[0].params["text"]
    bot.sandbox.state.approve("1002", request_id, "carol")
    bot.sandbox.state.approve("1002", request_id, "alice", "Signed off")
    dave_dm = bot.slack.dm_channel("U0DAVE")
    told = await bot.slack.wait_for("chat.postMessage", predicate=lambda c: c.landed_in == dave_dm)
    assert "approved" in json.dumps(told[0].params).lower()
    await bot.cycles(3)  # three more poll cycles: the submitter is told once
    to_dave = [c for c in bot.slack.calls("chat.postMessage") if c.landed_in == dave_dm]
    assert len(to_dave) == 1


async def test_approve_with_a_comment_from_the_overflow_menu(bot: Bot) -> None:
    await bot.link("U0BOB")
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    await bot.click("U0BOB", card, Action.MORE, MoreOption.APPROVE_WITH_COMMENT)
    opened = await bot.slack.wait_for("views.open")
    modal = opened[0].params["view"]
    assert modal["callback_id"] == View.APPROVE_COMMENT
    comment = {"type": "plain_text_input", "value": "Fine, keep receipts"}
    await submit(
        bot, "U0BOB", View.APPROVE_COMMENT, {Input.COMMENT: comment}, modal["private_metadata"]
    )
    await bot.slack.wait_for("chat.update", predicate=lambda c: c.params.get("ts") == card.ts)
    calls = bot.sandbox.calls("approveRequest")
    assert [(c.username, c.body) for c in calls] == [("bob", {"comment": "Fine, keep receipts"})]


async def open_reassign(bot: Bot, user: str, request_id: str) -> dict[str, Any]:
    """The card's overflow menu, "Reassign": the modal Slack opened."""
    card = await bot.channel_card(request_id)
    bot.slack.clear()
    await bot.click(user, card, Action.MORE, MoreOption.REASSIGN)
    opened = await bot.slack.wait_for("views.open")
    assert not opened[0].failed, opened[0].response  # the stand-in checks it as Slack does
    return opened[0].response["view"]


def picked(user: str | None) -> dict[str, Any]:
    """A users_select's state in a view_submission, as Slack sends it."""
    return {Input.REASSIGN_TO: {"type": "users_select", "selected_user": user}}


async def test_reassign_hands_the_stage_over_and_dms_the_new_reviewer(bot: Bot) -> None:
    await bot.link("U0BOB")
    await bot.link("U0ALICE")
    request_id = new_expense(bot.sandbox)
    await bot.channel_card(request_id)
    await bot.cycles(2)  # the poller's own reads are done: what follows is the modal's
    directory_reads = len(bot.sandbox.calls("listUsers"))
    modal = await open_reassign(bot, "U0BOB", request_id)
    assert modal["callback_id"] == View.REASSIGN
    person = next(b for b in modal["blocks"] if b.get("block_id") == Input.REASSIGN_TO)
    assert person["element"]["type"] == "users_select"  # Slack's member list, not Cflow's
    assert "options" not in json.dumps(modal) and "cflow-bot" not in json.dumps(modal)
    assert await submit_view(bot, "U0BOB", modal, picked("U0ALICE")) == {}
    alice_dm = bot.slack.dm_channel("U0ALICE")
    await bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: c.landed_in == alice_dm and mentions(c.params, request_id),
    )
    calls = bot.sandbox.calls("approveRequest")
    assert [(c.username, c.body) for c in calls] == [("bob", {"reassignTo": "alice"})]
    assert bot.sandbox.state.requests["1001"][request_id].current_reviewers == ["alice"]
    assert len(bot.sandbox.calls("listUsers")) == directory_reads, "no directory read"


async def test_reassign_refuses_the_unlinked_the_service_account_and_oneself(bot: Bot) -> None:
    await bot.link("U0BOB")
    # A link to the service account from before it was refused: still never a target.
    bot.slack.add_user("U0SVC", "ops@example.com", "ops")
    key = SecretStr(bot.sandbox.state.users["cflow-bot"].user_key)
    await bot.services.store.save_link(Link("U0SVC", "Cflow-Bot", key))
    request_id = new_expense(bot.sandbox)
    await bot.channel_card(request_id)
    await bot.cycles(2)  # the poller's own reads are done: what follows is the modal's
    directory_reads = len(bot.sandbox.calls("listUsers"))
    modal = await open_reassign(bot, "U0BOB", request_id)
    for chosen, why in (
        ("U0CAROL", "have not linked a Cflow account"),
        ("U0SVC", "the bot's own Cflow account"),
        ("U0BOB", "someone else than yourself"),
        (None, "Whom to hand it to?"),
    ):
        answer = await submit_view(bot, "U0BOB", modal, picked(chosen))
        assert answer["response_action"] == "errors", chosen
        assert why in answer["errors"][Input.REASSIGN_TO], chosen
    assert bot.sandbox.calls("approveRequest") == [], "nothing reached Cflow"
    assert bot.sandbox.state.requests["1001"][request_id].current_reviewers == ["bob"]
    assert len(bot.sandbox.calls("listUsers")) == directory_reads


async def test_slash_command_whoami_unlink_and_help(bot: Bot) -> None:
    async def say(text: str) -> str:
        bot.slack.clear()
        body = slash_command("U0BOB", text, response_url=bot.slack.response_url("U0BOB"))
        assert (await bot.post(body)).status == 200
        return json.dumps((await bot.slack.wait_for("response_url"))[0].params)

    assert "not linked" in await say("whoami")
    await bot.link("U0BOB")
    assert "*bob*" in await say("  WHOAMI ")
    assert "unlinked" in await say("unlink")
    assert await bot.running.services.store.link_for("U0BOB") is None
    assert "/cflow link" in await say("")
    assert "/cflow link" in await say("no-such-command <!channel>")


async def test_app_home_shows_the_link(bot: Bot) -> None:
    await bot.link("U0BOB")
    body = event_callback({"type": "app_home_opened", "user": "U0BOB", "tab": "home"})
    assert (await bot.post(body, content_type="application/json")).status == 200
    published = await bot.slack.wait_for("views.publish")
    assert published[0].params["user_id"] == "U0BOB"
    assert "bob" in json.dumps(published[0].params["view"])


async def test_the_clicked_card_shows_progress_before_cflow_answers(bot: Bot) -> None:
    await bot.link("U0BOB")
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    bot.sandbox.state.latency = 0.5
    await bot.click("U0BOB", card, Action.APPROVE)
    busy = await bot.slack.wait_for(
        "chat.update", predicate=lambda c: c.params.get("ts") == card.ts
    )
    assert "Approving" in json.dumps(busy[0].params)
    assert "cflow_approve" not in json.dumps(busy[0].params["blocks"])
    assert bot.sandbox.calls("approveRequest") == [], "shown before Cflow was even called"


async def test_a_timed_out_approve_is_settled_by_re_reading(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with running_bot(sandbox, http, tmp_path, cflow_timeout=0.5) as bot:
        await bot.link("U0BOB")
        request_id = new_expense(bot.sandbox)
        card = await bot.channel_card(request_id)
        bot.sandbox.state.delay_after_commit = 1.0
        await bot.click("U0BOB", card, Action.APPROVE)
        told = await bot.slack.wait_for("response_url", timeout=30)
        assert "Approved" in json.dumps(told[0].params)
        assert len(bot.sandbox.calls("approveRequest")) == 1


async def test_a_dm_loses_its_buttons_when_the_stage_moves_past_its_reader(bot: Bot) -> None:
    await bot.link("U0BOB")
    request_id = bot.sandbox.state.add_request("1002", {"Vendor": "Acme", "Amount": 5}, "dave").id
    bob_dm = bot.slack.dm_channel("U0BOB")
    posted = await bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: c.landed_in == bob_dm and mentions(c.params, request_id),
    )
    dm_card = bot.slack.message(bob_dm, posted[0].response["ts"])
    assert has_button(dm_card, Action.APPROVE)
    await bot.click("U0BOB", dm_card, Action.APPROVE)
    await bot.slack.wait_for(
        "chat.update",
        predicate=lambda c: c.params.get("ts") == dm_card.ts and "Finance" in json.dumps(c.params),
    )
    assert not has_button(bot.slack.message(bob_dm, dm_card.ts), Action.APPROVE)
    channel_card = await bot.channel_card(request_id)
    assert has_button(bot.slack.message(CHANNEL, channel_card.ts), Action.APPROVE)


async def test_socket_mode_serves_the_slash_command(sandbox: Sandbox, tmp_path: Path) -> None:
    async with SlackStandIn() as slack:
        slack.add_user("U0BOB", "bob@example.com", "bob")
        settings = load_settings(
            None,
            cflow_base_url=sandbox.url,
            cflow_api_key=sandbox.state.api_key,
            cflow_username="cflow-bot",
            cflow_user_key="cflow-bot-key",
            slack_bot_token=slack.bot_token,
            slack_app_token=slack.app_token,
            slack_api_url=slack.api_url,
            database_url=f"sqlite:///{tmp_path / 'bot.db'}",
            cflow_bot_secret_key=Fernet.generate_key().decode(),
        )
        task = asyncio.create_task(run_socket_mode(settings, poll=False))
        try:
            command = {
                "command": "/cflow",
                "text": "whoami",
                "user_id": "U0BOB",
                "channel_id": CHANNEL,
                "team_id": "T0TEST",
                "trigger_id": "1.2.3",
                "response_url": slack.response_url("U0BOB"),
            }
            ack = await slack.send_envelope("slash_commands", command, timeout=10)
            assert ack["envelope_id"]
            answers = await slack.wait_for("response_url")
            assert "not linked" in json.dumps(answers[0].params)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.mark.slow
async def test_one_failing_workflow_does_not_stop_the_others(bot: Bot) -> None:
    bot.sandbox.state.fail_next(10_000, status=500, operation="listRequests", workflow_id="1003")
    request_id = new_expense(bot.sandbox)
    await bot.channel_card(request_id)
    await bot.cycles(1)  # a whole cycle since, which met the failure and recorded it
    async with bot.http.get(bot.running.url + "/healthz") as response:
        body = await response.json()
    assert body["poller"]["errors"]
    # Classes and counts only: Cflow's own text may say more than /healthz should.
    assert body["poller"]["error_classes"] == {"CflowServerError": 1}
    assert "Simulated" not in json.dumps(body)


async def test_a_request_decided_between_two_polls_never_gets_a_card(bot: Bot) -> None:
    await bot.channel_card(new_expense(bot.sandbox))  # the poller is running
    quick = bot.sandbox.state.add_request("1001", {"Amount": 1}, "dave", status="approved").id
    await bot.cycles(3)
    assert not [c for c in bot.slack.calls("chat.postMessage") if mentions(c.params, quick)]


async def test_a_request_deleted_in_cflow_finalises_its_cards(bot: Bot) -> None:
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    bot.sandbox.state.delete("1001", request_id)
    await bot.slack.wait_for("chat.update", predicate=lambda c: c.params.get("ts") == card.ts)
    final = bot.slack.message(CHANNEL, card.ts)
    assert not has_button(final, Action.APPROVE)
    assert "deleted" in json.dumps(final.blocks).lower()


async def test_shutdown_finishes_an_approval_already_under_way(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with running_bot(sandbox, http, tmp_path) as bot:
        await bot.link("U0BOB")
        request_id = new_expense(bot.sandbox)
        card = await bot.channel_card(request_id)
        bot.sandbox.state.latency = 0.5
        await bot.click("U0BOB", card, Action.APPROVE)  # acknowledged; Cflow is still slow
    # The bot has stopped: the approval it had started went through and the card says so.
    assert bot.sandbox.state.requests["1001"][request_id].status == "approved"
    assert not has_button(bot.slack.message(CHANNEL, card.ts), Action.APPROVE)


async def test_without_a_readable_user_list_only_an_admin_may_link(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    sandbox.state.users["cflow-bot"].role = "Employee"  # listUsers now answers 403
    async with running_bot(sandbox, http, tmp_path, cflow_bot_admins="U0ALICE") as bot:
        shown = await submit_link_form(bot, "U0BOB", "bob", "bob-key")
        assert "ask an admin" in shown
        assert await bot.running.services.store.link_for("U0BOB") is None
        shown = await submit_link_form(bot, "U0ALICE", "alice", "alice-key")
        assert "Linked" in shown


async def test_nobody_links_to_the_service_account_from_the_modal(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Not even an admin, whom an unreadable user list lets through without the email
    match: the username is refused inside the modal, compared as Cflow compares it."""
    sandbox.state.users["cflow-bot"].role = "Employee"  # listUsers now answers 403
    async with running_bot(sandbox, http, tmp_path, cflow_bot_admins="U0ALICE") as bot:
        for typed in ("cflow-bot", " Cflow-Bot "):
            form_view = await open_link_form(bot, "U0ALICE")
            values = {
                Input.CFLOW_USERNAME: {"type": "plain_text_input", "value": typed},
                Input.USER_KEY: {"type": "plain_text_input", "value": "cflow-bot-key"},
            }
            answer = await submit_view(bot, "U0ALICE", form_view, values)
            assert answer["response_action"] == "errors"
            assert "nobody acts as it" in answer["errors"][Input.CFLOW_USERNAME]
        assert await bot.running.services.store.link_for("U0ALICE") is None
        assert not [c for c in bot.slack.calls("views.update") if "Linked" in str(c.params)]


async def test_the_card_links_to_the_request_in_cflow(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    template = "https://cflow.example.com/requests/{workflow_id}/{request_id}"
    async with running_bot(sandbox, http, tmp_path, cflow_request_url=template) as bot:
        request_id = new_expense(bot.sandbox)
        card = await bot.channel_card(request_id)
        link = button(card, Action.OPEN_IN_CFLOW)
        assert link["url"] == f"https://cflow.example.com/requests/1001/{request_id}"


async def test_metrics_count_cards_actions_and_acknowledgements(bot: Bot) -> None:
    await bot.link("U0BOB")
    request_id = new_expense(bot.sandbox)
    card = await bot.channel_card(request_id)
    await bot.click("U0BOB", card, Action.APPROVE)
    await bot.slack.wait_for("response_url")
    async with bot.http.get(bot.running.url + "/metrics") as response:
        assert response.status == 200
        text = await response.text()
    assert 'cflow_bot_cards_posted_total{kind="channel"}' in text
    assert 'cflow_bot_actions_total{action="approved",outcome="done"} 1.0' in text
    assert "cflow_bot_ack_seconds_count" in text and "cflow_bot_poll_cycle_seconds_count" in text


async def test_a_card_a_dead_process_did_post_is_adopted_not_posted_again(bot: Bot) -> None:
    request_id = "991"
    claim = Card("1001", request_id, CHANNEL, "channel")
    store = bot.running.services.store
    await store.claim_card(claim)  # claimed and posted, then killed before recording it
    posted = await bot.running.services.slack.chat_postMessage(
        channel=CHANNEL, text="card", metadata=card_metadata(claim)
    )
    async with store.engine.begin() as connection:
        await connection.exec_driver_sql(
            "UPDATE cards SET created_at = datetime('now', '-10 minutes') WHERE request_id = '991'"
        )
    bot.sandbox.state.add_request("1001", {"Amount": 1}, "dave", request_id=request_id)
    await bot.slack.wait_for("conversations.history")
    bot.sandbox.state.approve("1001", request_id, "bob")
    updated = await bot.slack.wait_for(
        "chat.update", predicate=lambda c: c.params.get("ts") == posted["ts"]
    )
    assert updated, "the adopted card is the one kept up to date"
    reposts = [
        c
        for c in bot.slack.calls("chat.postMessage")
        if c.params.get("channel") == CHANNEL
        and not c.params.get("thread_ts")
        and mentions(c.params, request_id)
    ]
    assert reposts == [], "and it was not posted to the channel a second time"
