"""The command line as a person runs it: a real process, its output and exit status."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
import subprocess
from pathlib import Path

import aiohttp
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.cflow import CflowClient, CflowUnavailableError, Credentials
from bot.devtools.slack_standin.slack import SlackStandIn
from bot.store import open_store
from bot.store.records import Link, Subscription, WorkflowRoute
from bot.sync.routes import ADOPTED
from tests.harness import (
    RATE_SCALE,
    Sandbox,
    run_cli,
    run_cli_async,
    serving,
    spawn,
)

pytestmark = pytest.mark.slow  # each test runs the command line: a real process, or several


def test_missing_settings_are_named_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 2
    for name in ("CFLOW_API_KEY", "CFLOW_USERNAME", "CFLOW_USER_KEY", "SLACK_BOT_TOKEN"):
        assert name in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_malformed_setting_from_env_file_is_named(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CFLOW_POLL_INTERVAL=-1\nSLACK_BOT_TOKEN=secret-token\n")
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 2
    assert "CFLOW_POLL_INTERVAL" in result.stderr and "SLACK_BOT_TOKEN" in result.stderr
    assert "secret-token" not in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "sandbox" in result.stdout and "check" in result.stdout


def check_env(sandbox: Sandbox, slack: SlackStandIn, **overrides: str) -> dict[str, str]:
    return {
        "CFLOW_BASE_URL": sandbox.url,
        "CFLOW_API_KEY": sandbox.state.api_key,
        "CFLOW_USERNAME": "cflow-bot",
        "CFLOW_USER_KEY": "cflow-bot-key",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_API_URL": slack.api_url,
        "SLACK_RATE_SCALE": str(RATE_SCALE),
        **overrides,
    }


def bot_env(
    sandbox: Sandbox, slack: SlackStandIn, tmp_path: Path, **overrides: str
) -> dict[str, str]:
    """What a real deployment sets: both services, a notify channel, a database, a key."""
    return check_env(
        sandbox,
        slack,
        CFLOW_NOTIFY_CHANNEL="C0NOTIFY",
        DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        CFLOW_BOT_SECRET_KEY=Fernet.generate_key().decode(),
        **overrides,
    )


async def test_check_says_both_services_work(sandbox: Sandbox, tmp_path: Path) -> None:
    async with SlackStandIn(rate_scale=RATE_SCALE) as slack:
        code, out, err = await run_cli_async("check", env=check_env(sandbox, slack), cwd=tmp_path)
    assert code == 0, err
    assert "[ok] Cflow" in out and "service account 'cflow-bot' works" in out
    assert "[ok] Slack" in out
    assert [c.username for c in sandbox.calls("getWorkflows")] == ["cflow-bot"]


async def test_check_names_what_fails_without_echoing_secrets(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async with SlackStandIn(rate_scale=RATE_SCALE) as slack:
        env = check_env(
            sandbox, slack, CFLOW_USER_KEY="wrong-key-123", SLACK_BOT_TOKEN="xoxb-revoked-456"
        )
        code, out, err = await run_cli_async("check", env=env, cwd=tmp_path)
    assert code == 1
    assert "[FAIL] Cflow" in out and "CFLOW_USER_KEY" in out
    assert "[FAIL] Slack" in out and "invalid_auth" in out
    assert "wrong-key-123" not in out + err and "xoxb-revoked-456" not in out + err
    assert "Traceback" not in out + err


async def test_check_says_when_cflow_is_unreachable(tmp_path: Path) -> None:
    async with SlackStandIn(rate_scale=RATE_SCALE) as slack:
        env = {
            "CFLOW_BASE_URL": "http://127.0.0.1:9",
            "CFLOW_API_KEY": "k",
            "CFLOW_USERNAME": "u",
            "CFLOW_USER_KEY": "uk",
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_API_URL": slack.api_url,
        }
        code, out, _ = await run_cli_async("check", env=env, cwd=tmp_path)
    assert code == 1
    assert "[FAIL] Cflow" in out and "Could not connect" in out and "[ok] Slack" in out


async def test_sandbox_command_serves_and_stops_on_sigterm(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    process = await spawn(
        "sandbox",
        "--port",
        "0",  # any free port: it prints the one it serves on
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        printed = await asyncio.wait_for(process.stdout.readuntil(b"CFLOW_USER_KEY="), 30)
        assert b"CFLOW_API_KEY=sandbox-api-key" in printed and b"bob" in printed
        served = re.search(rb"CFLOW_BASE_URL=http://127\.0\.0\.1:([1-9][0-9]*)\n", printed)
        assert served, printed
        creds = Credentials(
            api_key=SecretStr("sandbox-api-key"),
            username="cflow-bot",
            user_key=SecretStr("cflow-bot-key"),
        )
        client = CflowClient(http, f"http://127.0.0.1:{int(served[1])}")
        workflows = await wait_until_served(client, creds)
        assert len(workflows) >= 4
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
    assert code == 0


async def test_playground_needs_no_settings_and_stops_cleanly_on_ctrl_c(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    process = await spawn(
        "playground",
        "--port",
        "0",  # any free port: it prints the one it serves on
        "--no-open",
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        printed = await asyncio.wait_for(process.stdout.readline(), 60)
        served = re.search(rb"http://127\.0\.0\.1:([1-9][0-9]*)/", printed)
        assert served, printed
        port = int(served[1])
        async with http.get(f"http://127.0.0.1:{port}/") as page:
            assert page.status == 200 and "cflow-bot playground" in await page.text()
        async with http.get(f"http://127.0.0.1:{port}/api/world") as world:
            assert [p["name"] for p in (await world.json())["people"]][:2] == ["alice", "bob"]
    finally:
        process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), 30)
    assert code == 0
    assert process.stderr is not None
    assert b"Traceback" not in await process.stderr.read()
    left = await asyncio.to_thread(lambda: list(tmp_path.iterdir()))
    assert left == [], "nothing left behind in the folder"


async def test_playground_off_loopback_warns(tmp_path: Path) -> None:
    process = await spawn(
        "playground",
        "--host",
        "0.0.0.0",
        "--port",
        "0",
        "--no-open",
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        await asyncio.wait_for(process.stdout.readline(), 60)
        warned = await asyncio.wait_for(process.stderr.readline(), 10)
        assert b"no login" in warned
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0


async def wait_until_served(client: CflowClient, creds: Credentials) -> list:
    for _ in range(100):
        try:
            return await client.list_workflows(creds)
        except CflowUnavailableError:
            await asyncio.sleep(0.1)
    raise AssertionError("the sandbox never answered")


async def test_keygen_prints_a_usable_key(tmp_path: Path) -> None:
    code, out, _ = await run_cli_async("keygen", env={}, cwd=tmp_path)
    assert code == 0
    Fernet(out.strip().encode())


async def test_users_link_list_unlink_never_print_the_key(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "CFLOW_BOT_SECRET_KEY": Fernet.generate_key().decode(),
        "CFLOW_USERNAME": "cflow-bot",
    }
    code, out, err = await run_cli_async(
        "users", "link", "U0BOB", "bob", env=env, cwd=tmp_path, stdin=b"bobs-secret-key\n"
    )
    assert code == 0, err
    code, listed, _ = await run_cli_async("users", "list", env=env, cwd=tmp_path)
    assert code == 0 and "U0BOB" in listed and "bob" in listed
    assert "bobs-secret-key" not in listed + out
    assert b"bobs-secret-key" not in (tmp_path / "bot.db").read_bytes()
    code, _, _ = await run_cli_async("users", "unlink", "U0BOB", env=env, cwd=tmp_path)
    assert code == 0
    _, listed, _ = await run_cli_async("users", "list", env=env, cwd=tmp_path)
    assert "U0BOB" not in listed


async def test_users_link_refuses_the_service_account(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "CFLOW_BOT_SECRET_KEY": Fernet.generate_key().decode(),
        "CFLOW_USERNAME": "cflow-bot",
    }
    for name in ("cflow-bot", " Cflow-BOT "):  # as Cflow compares usernames
        code, out, err = await run_cli_async(
            "users", "link", "U0BOB", name, env=env, cwd=tmp_path, stdin=b"cflow-bot-key\n"
        )
        assert code == 1, out
        assert "service account (CFLOW_USERNAME): nobody acts as it" in err
        assert "Traceback" not in err and "cflow-bot-key" not in out + err
    _, listed, _ = await run_cli_async("users", "list", env=env, cwd=tmp_path)
    assert "No links." in listed
    # Without CFLOW_USERNAME the CLI cannot tell, so it links no one.
    del env["CFLOW_USERNAME"]
    code, _, err = await run_cli_async(
        "users", "link", "U0BOB", "cflow-bot", env=env, cwd=tmp_path, stdin=b"cflow-bot-key\n"
    )
    assert code == 2 and "CFLOW_USERNAME" in err


async def test_users_reencrypt_rewraps_with_the_newest_key_and_names_the_unreadable(
    tmp_path: Path,
) -> None:
    old, new, lost = (Fernet.generate_key().decode() for _ in range(3))
    database = f"sqlite:///{tmp_path / 'bot.db'}"
    for key, user in ((old, "U0BOB"), (old, "U0CAROL"), (lost, "U0DAVE")):
        store = await open_store(database, [key])
        await store.save_link(Link(user, user.lower(), SecretStr(f"{user}-key")))
        await store.close()
    env = {"DATABASE_URL": database, "CFLOW_BOT_SECRET_KEY": f"{new},{old}"}
    code, listed, err = await run_cli_async("users", "list", env=env, cwd=tmp_path)
    assert code == 0, err
    assert "U0DAVE" in listed and "unreadable" in listed and "U0CAROL" in listed
    code, out, _ = await run_cli_async("users", "reencrypt", env=env, cwd=tmp_path)
    assert code == 1 and "Re-encrypted 2 keys" in out and "U0DAVE" in out
    env["CFLOW_BOT_SECRET_KEY"] = new  # the old key can go now
    store = await open_store(database, [new])
    try:
        bob = await store.link_for("U0BOB")
        assert bob is not None and bob.user_key.get_secret_value() == "U0BOB-key"
    finally:
        await store.close()
    _, listed, _ = await run_cli_async("users", "list", env=env, cwd=tmp_path)
    lines = {line.split("\t")[0]: line for line in listed.splitlines()}
    assert "key ok" in lines["U0BOB"] and "key ok" in lines["U0CAROL"]
    assert "unreadable" in lines["U0DAVE"]


async def test_poll_once_posts_the_pending_cards_and_exits(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async with SlackStandIn(rate_scale=RATE_SCALE) as slack:
        env = bot_env(sandbox, slack, tmp_path)
        code, out, err = await run_cli_async("poll", "--once", env=env, cwd=tmp_path)
        assert code == 0, err
        pending = sum(
            1
            for wf in sandbox.state.requests.values()
            for r in wf.values()
            if r.status == "pending" and sandbox.state.workflows[r.workflow_id].status == "active"
        )
        assert f"{pending} pending" in out
        cards = [
            c for c in slack.calls("chat.postMessage") if c.params.get("channel") == "C0NOTIFY"
        ]
        assert len(cards) == pending
        code, _, _ = await run_cli_async("poll", "--once", env=env, cwd=tmp_path)
        cards = [
            c for c in slack.calls("chat.postMessage") if c.params.get("channel") == "C0NOTIFY"
        ]
        assert code == 0 and len(cards) == pending, "a second run posts nothing twice"


async def test_serve_answers_health_and_stops_cleanly_on_sigterm(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with SlackStandIn(rate_scale=RATE_SCALE) as slack:
        env = bot_env(
            sandbox, slack, tmp_path, SLACK_SIGNING_SECRET="secret", CFLOW_POLL_INTERVAL="0.2"
        )
        streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        async with serving(env, tmp_path, http, **streams) as served:
            try:
                health = await served.healthy()
                assert health["store"] == "ok"
                await slack.wait_for("chat.postMessage", timeout=15)  # the poller runs in-process
            finally:
                code, err = await served.stop()
    assert code == 0, err
    assert "Traceback" not in err


async def test_a_poller_killed_mid_cycle_loses_and_repeats_no_card(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.state.populate(8, 5)
    pending = {
        (wf, rid)
        for wf, requests in sandbox.state.requests.items()
        for rid, request in requests.items()
        if request.status == "pending" and sandbox.state.workflows[wf].status == "active"
    }
    async with SlackStandIn(
        latency=0.05, rate_scale=RATE_SCALE
    ) as slack:  # slow posts: the kill lands mid-cycle
        env = bot_env(
            sandbox,
            slack,
            tmp_path,
            CFLOW_POLL_INTERVAL="0.1",
            CFLOW_BURST_LIMIT="100",  # a card each, claimed one by one
        )
        process = await spawn("poll", env=env, cwd=tmp_path)
        await slack.wait_for("chat.postMessage", count=5, timeout=30)
        process.kill()  # SIGKILL: no clean-up of any kind
        await process.wait()
        assert len(slack.messages("C0NOTIFY")) < len(pending), "killed before the cycle ended"
        code, _, err = await run_cli_async("poll", "--once", env=env, cwd=tmp_path)
        assert code == 0, err
        # Posts the killed process had claimed but not recorded wait out their grace
        # period (two minutes; aged here), then are found in Slack or posted once.
        with sqlite3.connect(tmp_path / "bot.db") as db:
            db.execute("UPDATE cards SET created_at = datetime('now', '-10 minutes')")
            ago = "datetime('now', '-1 minutes')"  # and the retries they caused are due
            db.execute(f"UPDATE tracked_requests SET retry_at = {ago} WHERE retry_at IS NOT NULL")
        code, _, err = await run_cli_async("poll", "--once", env=env, cwd=tmp_path)
        assert code == 0, err
        per_request: dict[str, int] = {}
        for message in slack.messages("C0NOTIFY"):
            for _, rid in pending:
                if f"#{rid}" in json.dumps(message.blocks):
                    per_request[rid] = per_request.get(rid, 0) + 1
    assert per_request == {rid: 1 for _, rid in pending}


async def test_json_logs_tag_each_request_and_mask_secrets(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async with SlackStandIn(rate_scale=RATE_SCALE) as slack:
        env = bot_env(
            sandbox,
            slack,
            tmp_path,
            LOG_FORMAT="json",
            LOG_LEVEL="DEBUG",
        )
        code, _, err = await run_cli_async("poll", "--once", env=env, cwd=tmp_path)
    assert code == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message", "request_id"} <= set(e) for e in lines)
    posted = [e for e in lines if e["message"].startswith("Posted the channel card")]
    assert posted and all(e["request_id"] and "/" in e["request_id"] for e in posted)
    for secret in (
        "cflow-bot-key",
        sandbox.state.api_key,
        slack.bot_token,
        env["CFLOW_BOT_SECRET_KEY"],
    ):
        assert secret not in err


async def test_check_covers_the_database_and_the_card_channels(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async with SlackStandIn(rate_scale=RATE_SCALE) as slack:
        slack.add_channel("C0NOTIFY", "approvals", bot_member=True)
        slack.add_channel("C0FINANCE", "finance", bot_member=False)
        env = bot_env(sandbox, slack, tmp_path)
        code, out, err = await run_cli_async("check", env=env, cwd=tmp_path)
        assert code == 0, out + err
        assert "[ok] Database" in out and "[ok] Channel C0NOTIFY" in out and "#approvals" in out
        assert "[ok] Workflow Expense Claim (1001): cards go to C0NOTIFY" in out
        store = await open_store(env["DATABASE_URL"], [])
        await store.subscribe(Subscription("1002", "C0FINANCE"))
        await store.add_workflow_routes(
            [WorkflowRoute(ADOPTED, "default"), WorkflowRoute("1003", "pending", "Leave")]
        )
        await store.close()
        code, out, _ = await run_cli_async("check", env=env, cwd=tmp_path)
    assert code == 1
    assert "[FAIL] Channel C0FINANCE" in out and "/invite" in out and "workflow 1002" in out
    assert "Workflow Purchase Order (1002): cards go to C0FINANCE" in out
    assert "[FAIL] Workflow Leave Request (1003): waits for an admin to route it" in out
    assert "Set CFLOW_BOT_ADMINS" in out, "with no admins, nobody could route it"
    assert "Workflow Expense Claim (1001): no channel" in out, "seen after the first cycle"


async def test_check_resolves_a_notify_channel_given_by_name(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async with SlackStandIn(rate_scale=RATE_SCALE) as slack:
        slack.add_channel("C0NOTIFY", "approvals", bot_member=True)
        env = bot_env(sandbox, slack, tmp_path) | {"CFLOW_NOTIFY_CHANNEL": "#approvals"}
        code, out, err = await run_cli_async("check", env=env, cwd=tmp_path)
        assert code == 0, out + err
        assert "[ok] Channel #approvals" in out and "the bot is in #approvals" in out
        env["CFLOW_NOTIFY_CHANNEL"] = "#nowhere"
        code, out, _ = await run_cli_async("check", env=env, cwd=tmp_path)
    assert code == 1
    assert "[FAIL] Channel #nowhere" in out and "CFLOW_NOTIFY_CHANNEL" in out


async def test_check_lists_what_slack_refused_for_good(sandbox: Sandbox, tmp_path: Path) -> None:
    async with SlackStandIn(rate_scale=RATE_SCALE) as slack:
        slack.add_channel("C0NOTIFY", "approvals", bot_member=True)
        slack.refuse("U0BOB", "user_disabled")
        slack.add_user("U0BOB", "bob@example.com", "bob")
        env = bot_env(sandbox, slack, tmp_path)
        code, _, err = await run_cli_async("poll", "--once", env=env, cwd=tmp_path)
        assert code == 0, err
        code, out, err = await run_cli_async("check", env=env, cwd=tmp_path)
    assert code == 0, out + err  # a deactivated person is no fault of the setup
    (line,) = [line for line in out.splitlines() if "Slack deliveries" in line]
    assert line.startswith("[ok]") and "user_disabled: dm of request" in line
    assert "DM to U0BOB, since 20" in line


async def test_check_says_when_the_database_is_unreachable_without_its_password(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async with SlackStandIn(rate_scale=RATE_SCALE) as slack:
        url = "postgresql://bot:hunter2-secret@127.0.0.1:9/bot"
        env = check_env(sandbox, slack, DATABASE_URL=url)
        code, out, err = await run_cli_async("check", env=env, cwd=tmp_path)
    assert code == 1
    assert "[FAIL] Database" in out and "127.0.0.1:9" in out
    assert "hunter2-secret" not in out + err and "Traceback" not in out + err
