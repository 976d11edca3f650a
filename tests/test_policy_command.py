"""`/cflow policy`: admins show and change a workflow's decision policy, through signed
slash commands to the running app; what the store then holds; the change log in the
show form and in `cflow-bot export`; and the parsing of the words, whatever is typed."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.blocks.command_text import parse
from bot.blocks.policy_text import policy_message
from bot.domain.policy_edits import (
    POLICY_USAGE,
    ChannelFields,
    Comment,
    PolicyCommand,
    PolicyUsageError,
    Undo,
    WebOnly,
    parse_policy,
)
from bot.domain.stats import CSV_COLUMNS, decision_log_csv
from bot.store.records import PolicyChange, StageVisit, WorkflowPolicy
from tests.harness import Bot, Sandbox, run_cli_async, running_bot
from tests.test_commands import say
from tests.test_notify import Clock

ADMIN = "U0ALICE"
USAGE_LINE = "/cflow policy &lt;workflow&gt; comment reject|approve|both|off"
START = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def bot(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, clock: Clock
) -> AsyncIterator[Bot]:
    async with running_bot(
        sandbox, http, tmp_path, linked=(ADMIN, "U0BOB"), clock=clock, cflow_bot_admins=ADMIN
    ) as running:
        yield running


async def stored(bot: Bot, workflow_id: str = "1001") -> WorkflowPolicy | None:
    return (await bot.services.store.policies_for([workflow_id])).get(workflow_id)


async def nothing_changed(bot: Bot) -> None:
    assert await bot.services.store.policies_for(["1001", "1002", "1003", "1004"]) == {}
    assert await bot.services.store.policy_changes() == []


# Through the running app


async def test_only_admins_see_or_change_a_policy(bot: Bot) -> None:
    for text in ("policy Expense comment both", "policy Expense", "policy Expense undo 10"):
        answer = await say(bot, "U0BOB", text)
        assert "Only the bot's admins (CFLOW_BOT_ADMINS)" in answer
    await nothing_changed(bot)
    assert not [c for c in bot.sandbox.state.calls if c.username == "bob"], "Cflow not asked"


async def test_each_setting_round_trips_and_shows_who_and_when(bot: Bot, clock: Clock) -> None:
    shown = await say(bot, ADMIN, "policy Expense")
    assert "Policy of Expense Claim" in shown and shown.count("_(default)_") == 5
    assert "none yet" in shown
    steps = [
        ("comment BOTH", "comment", "both"),
        ("self-approval block", "self-approval", "block"),
        ("web-only amount >= 10,000", "web-only", "Amount >= 10,000"),
        ("undo 10", "undo", "10 s"),
        ("channel-fields amount, description", "channel-fields", "Amount, Description"),
    ]
    for minutes, (words, _, value) in enumerate(steps):
        clock.now = START + timedelta(minutes=minutes)
        answer = await say(bot, ADMIN, f"policy 1001 {words}")
        assert f"`{value.replace('>', '&gt;')}`" in answer, answer
    policy = await stored(bot)
    assert policy == WorkflowPolicy(
        "1001",
        comment="both",
        self_approval="block",
        web_only_field="Amount",  # as Cflow spells it
        web_only_op=">=",
        web_only_value="10,000",
        undo_seconds=10,
        channel_fields=("Amount", "Description"),
        updated_by=ADMIN,
        updated_at=START + timedelta(minutes=4),
    )
    changes = await bot.services.store.policy_changes("1001")
    assert [(c.setting, c.value, c.changed_by) for c in changes] == [
        (setting, value, ADMIN) for _, setting, value in steps
    ]
    shown = await say(bot, ADMIN, "policy expense claim")
    assert "_(default)_" not in shown
    for _, setting, value in steps:  # newest last, each with who and when
        assert f"set {setting} to `{value.replace('>', '&gt;')}`" in shown
    assert shown.count("<@U0ALICE> set") == 5
    assert shown.index("set comment") < shown.index("set channel-fields")
    assert "|2026-12-04 18:00 UTC>" in shown and "|2026-12-04 18:04 UTC>" in shown


async def test_the_defaults_come_back_and_a_setting_made_twice_is_logged_once(
    bot: Bot,
) -> None:
    for words in ("web-only Amount > 500", "undo 30", "channel-fields none", "comment off"):
        await say(bot, ADMIN, f"policy Expense {words}")
    policy = await stored(bot)
    assert policy is not None and policy.channel_fields == () and policy.comment == "off"
    assert "already" in await say(bot, ADMIN, "policy Expense undo 30s")
    for words in ("web-only off", "undo 0", "channel-fields all", "comment reject"):
        await say(bot, ADMIN, f"policy Expense {words}")
    policy = await stored(bot)
    assert policy is not None and policy.updated_by == ADMIN
    assert policy == WorkflowPolicy("1001", updated_by=ADMIN, updated_at=policy.updated_at)
    assert len(await bot.services.store.policy_changes("1001")) == 8
    assert (await say(bot, ADMIN, "policy Expense")).count("_(default)_") == 5


async def test_wrong_words_give_the_usage_and_change_nothing(bot: Bot) -> None:
    for text in (
        "policy",
        "policy Expense comment sometimes",
        "policy Expense comment",
        "policy Expense self-approval maybe",
        "policy Expense web-only Amount > lots",
        "policy Expense web-only Amount > 1e9",
        "policy Expense web-only Amount",
        "policy Expense undo 61",
        "policy Expense undo -1",
        "policy Expense undo soon",
        "policy Expense channel-fields",
        "policy Expense channel-fields , ,",
    ):
        answer = await say(bot, ADMIN, text)
        assert USAGE_LINE in answer, (text, answer)
    assert "No workflow is called" in await say(bot, ADMIN, "policy Payroll comment both")
    await nothing_changed(bot)


async def test_an_unknown_field_lists_the_workflows_fields(bot: Bot) -> None:
    for words in ("web-only Amout > 5", "channel-fields Vendor, Colour"):
        answer = await say(bot, ADMIN, f"policy Purchase {words}")
        assert "Purchase Order has no field" in answer
        for field in ("Vendor", "Amount", "Currency", "Description", "Needed By"):
            assert field in answer
    await nothing_changed(bot)
    lists = [c for c in bot.sandbox.calls("listRequests") if c.username == "alice"]
    assert lists, "the fields were read with the admin's own key"


async def test_a_workflow_with_no_requests_keeps_the_names_as_typed(bot: Bot) -> None:
    answer = await say(bot, ADMIN, "policy Vendor Onboarding channel-fields Supplier")
    assert "no field of this workflow yet" in answer
    policy = await stored(bot, "1004")
    assert policy is not None and policy.channel_fields == ("Supplier",)


async def test_cflow_text_is_escaped_in_every_answer(bot: Bot) -> None:
    bot.sandbox.state.add_workflow("1009", "Ops <!channel>", [("Review", ["bob"])])
    bot.sandbox.state.add_request("1009", {"Cost <!here>": 5}, "dave")
    answer = await say(bot, ADMIN, "policy 1009 channel-fields cost <!here>")
    assert "Cost &lt;!here&gt;" in answer and "Ops &lt;!channel&gt;" in answer
    answer += await say(bot, ADMIN, "policy 1009 web-only Cost <!here> > 3")
    answer += await say(bot, ADMIN, "policy 1009")
    assert "<!channel>" not in answer and "<!here>" not in answer
    policy = await stored(bot, "1009")
    assert policy is not None and policy.channel_fields == ("Cost <!here>",)
    assert policy.web_only_field == "Cost <!here>"


async def test_help_explains_each_policy(bot: Bot) -> None:
    answer = await say(bot, "U0BOB", "help")
    for words in ("/cflow policy", "self-approval allow|block", "web-only", "channel-fields"):
        assert words in answer


@pytest.mark.slow
async def test_the_export_has_a_row_for_each_policy_change(
    bot: Bot, clock: Clock, tmp_path: Path
) -> None:
    await bot.cycles(1)  # the workflows' names are known from the first cycle on
    await say(bot, ADMIN, "policy Expense comment both")
    clock.now = START + timedelta(hours=1)
    await say(bot, ADMIN, "policy Purchase web-only Amount > 10,000")
    env = {"DATABASE_URL": bot.running.settings.database_url}
    code, out, err = await run_cli_async("export", "--since", "2026-12-04", env=env, cwd=tmp_path)
    assert code == 0, err
    rows = [row for row in csv.DictReader(io.StringIO(out)) if row["kind"] == "policy"]
    assert [
        (r["workflow_id"], r["workflow"], r["outcome"], r["decided_by"], r["arrived_at"])
        for r in rows
    ] == [
        ("1001", "Expense Claim", "policy: comment = both", ADMIN, START.isoformat()),
        (
            "1002",
            "Purchase Order",
            "policy: web-only = Amount > 10,000",
            ADMIN,
            (START + timedelta(hours=1)).isoformat(),
        ),
    ]
    code, out, err = await run_cli_async("export", "--since", "2026-12-05", env=env, cwd=tmp_path)
    assert code == 0, err
    assert "policy:" not in out


# Pure: the decision log, and the parsing


def test_the_decision_log_merges_policy_changes_by_time() -> None:
    def visit(request_id: str, hour: int) -> StageVisit:
        at = START + timedelta(hours=hour)
        return StageVisit("1001", request_id, 1, "Expense Claim", "s1", "Review", ("bob",), at)

    changes = [
        PolicyChange("1001", "undo", "10 s", ADMIN, START + timedelta(hours=1, minutes=30)),
        PolicyChange("1003", "comment", "=cmd()", ADMIN, START + timedelta(hours=3)),
    ]
    out = decision_log_csv([visit("1", 1), visit("2", 2)], changes, {"1003": "Leave"})
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [(r["request_id"], r["kind"]) for r in rows] == [
        ("1", "stage"),
        ("", "policy"),
        ("2", "stage"),
        ("", "policy"),
    ]
    assert rows[1]["workflow"] == "Expense Claim" and rows[1]["outcome"] == "policy: undo = 10 s"
    assert rows[3]["workflow"] == "Leave" and rows[3]["outcome"] == "policy: comment = =cmd()"
    assert decision_log_csv([]).splitlines() == [",".join(CSV_COLUMNS)]


def test_the_show_form_keeps_the_newest_changes_within_slacks_limits() -> None:
    names = tuple(f"Field <{n}> " + "x" * 150 for n in range(50))
    policy = WorkflowPolicy("1001", web_only_field=names[0], web_only_op=">", web_only_value="1")
    policy = replace(policy, channel_fields=names, comment="both")
    changes = [
        PolicyChange("1001", "channel-fields", ", ".join(names), f"U0{n}", START) for n in range(13)
    ]
    message = policy_message("Expense <!channel>", policy, changes)
    texts = [block["text"]["text"] for block in message["blocks"]]
    assert all(len(text) < 3000 for text in texts), "none cut at the cap"
    assert "…and 3 earlier" in texts[-1] and texts[-1].count("set channel-fields") == 10
    assert texts[-1].rstrip().endswith("`") and "<@U012>" in texts[-1], "the newest is kept"
    assert "<!channel>" not in json.dumps(message) and "<0>" not in json.dumps(message)


def test_parsing_reads_names_with_spaces_and_forgiving_words() -> None:
    def read(text: str) -> PolicyCommand:
        return parse_policy(parse(f"policy {text}").args)

    assert read("Purchase Order") == PolicyCommand("Purchase Order")
    assert read("Purchase Order COMMENT Both") == PolicyCommand("Purchase Order", Comment("both"))
    assert read("comment comment off").edit == Comment("off")  # a workflow called "comment"
    assert read('"Travel undo" undo 5s') == PolicyCommand("Travel undo", Undo(5))
    assert read("x web-only Total amount&gt;=1,000.5").edit == WebOnly(
        "Total amount", ">=", "1,000.5"
    )
    assert read("x web_only OFF").edit == WebOnly()
    assert read("x channel-fields Amount ,  vendor, amount").edit == ChannelFields(
        ("Amount", "vendor")
    )
    assert read("x channel-fields None").edit == ChannelFields(())
    assert read("x channel-fields all").edit == ChannelFields(None)
    assert read("x undo 0").edit == Undo(0) and read("x undo 60").edit == Undo(60)


KEYWORDS = ("comment", "self-approval", "web-only", "undo", "channel-fields")
WORDS = st.sampled_from(
    (*KEYWORDS, "off", "all", "none", "both", "block", ">", ">=", "=", "10,000", "1e9", "61")
)


@given(st.lists(st.one_of(WORDS, st.text()), max_size=8))
def test_parsing_never_raises_anything_but_the_usage(words: list[str]) -> None:
    try:
        asked = parse_policy(words)
    except PolicyUsageError as error:
        assert error.text.endswith(POLICY_USAGE)
        return
    assert asked.workflow.strip()


@given(st.text())
def test_parsing_what_slack_sends_never_raises_anything_but_the_usage(text: str) -> None:
    try:
        parse_policy(parse(f"policy {text}").args)
    except PolicyUsageError as error:
        assert POLICY_USAGE in error.text
