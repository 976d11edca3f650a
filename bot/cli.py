"""The `cflow-bot` command and its subcommands.

Each subcommand loads the settings itself and requires only what it uses, so a
setting that is missing stops exactly the commands that need it, with exit status 2
and one message naming every bad variable.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.cflow import CflowClient, RetryPolicy, create_session
from bot.runtime.check import (
    check_cflow,
    check_channels,
    check_database,
    check_deliveries,
    check_routes,
    check_slack,
)
from bot.settings import (
    CFLOW_SERVICE_ACCOUNT,
    SLACK_HTTP,
    Settings,
    SettingsError,
    load_settings,
)
from bot.telemetry.logs import configure_logging

log = logging.getLogger(__name__)
EXIT_FAILED = 1
EXIT_BAD_SETTINGS = 2
Command = Callable[[argparse.Namespace], Awaitable[int]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cflow-bot", description="Approve and reject Cflow requests from Slack."
    )
    parser.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    playground = commands.add_parser(
        "playground", help="try the whole bot in a browser: no Slack, no Cflow, no settings"
    )
    playground.add_argument("--port", type=int, default=3000)
    playground.add_argument(
        "--host", default="127.0.0.1", help="serve elsewhere than loopback (no login!)"
    )
    playground.add_argument(
        "--no-open", dest="open_browser", action="store_false", help="do not open a browser"
    )
    playground.set_defaults(run=run_playground)

    sandbox = commands.add_parser("sandbox", help="run a stand-in Cflow server with demo data")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8081)
    sandbox.add_argument("--latency", type=float, default=0.0, help="seconds added to each call")
    sandbox.add_argument(
        "--failure-rate", type=float, default=0.0, help="fraction of calls that fail with 500"
    )
    sandbox.set_defaults(run=run_sandbox)

    check = commands.add_parser("check", help="check that Cflow and Slack accept the settings")
    check.set_defaults(run=run_check)

    serve = commands.add_parser("serve", help="serve Slack over HTTP on PORT, and poll Cflow")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--no-poller", action="store_true", help="do not poll Cflow here")
    serve.set_defaults(run=run_serve)

    socket = commands.add_parser("socket", help="connect to Slack over Socket Mode, and poll")
    socket.add_argument("--no-poller", action="store_true", help="do not poll Cflow here")
    socket.set_defaults(run=run_socket)

    poll = commands.add_parser("poll", help="poll Cflow and update Slack")
    poll.add_argument("--once", action="store_true", help="run one cycle and exit")
    poll.set_defaults(run=run_poll)

    export = commands.add_parser(
        "export",
        help="print the decision log (each request's stay at each stage, and each policy"
        " change) as CSV",
    )
    export.add_argument(
        "--since",
        required=True,
        type=_day,
        help="YYYY-MM-DD: stays that ended since then, and policy changes made since then",
    )
    export.set_defaults(run=run_export)

    keygen = commands.add_parser("keygen", help="print a new CFLOW_BOT_SECRET_KEY")
    keygen.set_defaults(run=run_keygen)

    users = commands.add_parser("users", help="manage account links (admins)")
    user_commands = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    link = user_commands.add_parser("link", help="link a Slack user; reads the user key on stdin")
    link.add_argument("slack_user_id")
    link.add_argument("cflow_username")
    link.set_defaults(run=run_users_link)
    unlink = user_commands.add_parser("unlink", help="delete a Slack user's link and key")
    unlink.add_argument("slack_user_id")
    unlink.set_defaults(run=run_users_unlink)
    user_commands.add_parser("list", help="list links (never keys)").set_defaults(
        run=run_users_list
    )
    reencrypt = user_commands.add_parser(
        "reencrypt", help="rewrap every stored key with the newest CFLOW_BOT_SECRET_KEY"
    )
    reencrypt.set_defaults(run=run_users_reencrypt)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args.run(args))
    except SettingsError as error:
        print(f"cflow-bot: {error}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    except KeyboardInterrupt:
        return 130


def _run(command: Coroutine[Any, Any, int]) -> int:
    """Run `command` until it ends or SIGTERM arrives (then cancel it cleanly)."""

    async def supervised() -> int:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            return await command
        except asyncio.CancelledError:
            return 0

    return asyncio.run(supervised())


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.env_file)
    configure_logging(
        settings.log_level,
        json_lines=settings.log_format == "json",
        secrets=settings.secret_values(),
    )
    return settings


async def run_playground(args: argparse.Namespace) -> int:
    from bot.devtools.playground.run import run_playground as serve_playground

    configure_logging("WARNING")
    await serve_playground(args.host, args.port, open_browser=args.open_browser)
    return 0


async def run_sandbox(args: argparse.Namespace) -> int:
    from bot.devtools.cflow_standin.seed import demo_state, describe_credentials
    from bot.devtools.cflow_standin.server import run_sandbox as serve_sandbox

    configure_logging("INFO")
    state = demo_state(now=datetime.now(UTC))
    state.latency = args.latency
    state.failure_rate = args.failure_rate
    await serve_sandbox(
        state,
        args.host,
        args.port,
        ready=lambda url: print(describe_credentials(state, url), flush=True),
    )
    return 0


async def run_check(args: argparse.Namespace) -> int:
    from bot.store import open_store

    settings = _settings(args)
    if settings.oauth_mode:
        return await _check_oauth(settings)
    settings.require(*CFLOW_SERVICE_ACCOUNT, "SLACK_BOT_TOKEN")
    assert settings.slack_bot_token is not None
    async with create_session() as session:
        cflow = CflowClient(session, str(settings.cflow_base_url), retry=RetryPolicy(attempts=2))
        slack = AsyncWebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_base,
            session=session,
        )
        base_url = str(settings.cflow_base_url)
        cflow_result, workflows = await check_cflow(cflow, settings.service_credentials(), base_url)
        results = [cflow_result, await check_slack(slack)]
        database, store = await check_database(
            lambda: open_store(settings.database_url, settings.secret_keys),
            settings.shown_database_url,
        )
        results.append(database)
        if store is not None:
            results.append(await check_deliveries(store))
            default, admins = settings.cflow_notify_channel, settings.cflow_bot_admins
            results += await check_routes(workflows, store, default, admins)
        channels = await _card_channels(settings, store)
        results += await check_channels(slack, channels)
    for result in results:
        print(result.line())
    return 0 if all(result.ok for result in results) else EXIT_FAILED


async def _check_oauth(settings: Settings) -> int:
    """OAuth mode keeps its installations in the database: that is what can be checked."""
    from bot.store import open_store

    settings.require("CFLOW_BOT_SECRET_KEY")
    database, store = await check_database(
        lambda: open_store(settings.database_url, settings.secret_keys),
        settings.shown_database_url,
    )
    if store is not None:
        await store.close()
    print(database.line())
    print("[ok] Slack: OAuth mode; workspaces install at /slack/install (issue 25).")
    return 0 if database.ok else EXIT_FAILED


async def _card_channels(settings: Settings, store: Any) -> dict[str, str]:
    """Every channel cards go to: the default one and each workflow's subscription."""
    channels = {}
    if settings.cflow_notify_channel:
        channels[settings.cflow_notify_channel] = "CFLOW_NOTIFY_CHANNEL"
    if store is not None:
        try:
            for workflow_id, sub in (await store.subscriptions()).items():
                channels.setdefault(sub.channel_id, f"workflow {workflow_id}")
        finally:
            await store.close()
    return channels


async def run_serve(args: argparse.Namespace) -> int:
    from bot.runtime.server import RunningBot

    settings = _settings(args)
    if settings.oauth_mode:
        return await _serve_installs(settings, args.host)
    settings.require(*CFLOW_SERVICE_ACCOUNT, *SLACK_HTTP, "CFLOW_BOT_SECRET_KEY")
    async with RunningBot(settings, host=args.host, poll=not args.no_poller):
        await asyncio.Event().wait()
    return 0


async def _serve_installs(settings: Settings, host: str) -> int:
    """OAuth mode: the install page, the redirect and /healthz; nothing else yet."""
    from bot.runtime.oauth import RunningInstaller

    settings.require("CFLOW_BOT_SECRET_KEY")  # installations' tokens are encrypted with it
    async with RunningInstaller(settings, host=host):
        await asyncio.Event().wait()
    return 0


async def run_socket(args: argparse.Namespace) -> int:
    from bot.runtime.server import run_socket_mode

    settings = _settings(args)
    settings.require(*CFLOW_SERVICE_ACCOUNT, "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
    settings.require("CFLOW_BOT_SECRET_KEY")
    await run_socket_mode(settings, poll=not args.no_poller)
    return 0


async def run_poll(args: argparse.Namespace) -> int:
    from bot.runtime.server import make_poller
    from bot.runtime.services import build_services

    settings = _settings(args)
    settings.require(*CFLOW_SERVICE_ACCOUNT, "SLACK_BOT_TOKEN")
    services = await build_services(settings)
    try:
        poller = make_poller(services)
        if args.once:
            run = await poller.cycle()
            await services.publisher.delivered()
            errors = len(run.errors)
            print(f"Polled {run.workflows} workflows: {run.pending} pending, {errors} errors.")
            return EXIT_FAILED if run.errors else 0
        await poller.run(asyncio.Event())
        return 0
    finally:
        await services.close()


def _day(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


async def run_export(args: argparse.Namespace) -> int:
    from bot.domain.stats import decision_log_csv

    store = await _admin_store(args)
    try:
        visits = await store.stage_visits(args.since)
        changes = await store.policy_changes(since=args.since)
        routes = await store.workflow_routes()
    finally:
        await store.close()
    names = {workflow_id: route.name for workflow_id, route in routes.items() if route.name}
    sys.stdout.write(decision_log_csv(visits, changes, names))
    return 0


async def run_keygen(args: argparse.Namespace) -> int:
    from bot.store.crypto import generate_key

    print(generate_key())
    return 0


async def _admin_store(args: argparse.Namespace) -> Any:
    from bot.store import open_store

    settings = _settings(args)
    return await open_store(settings.database_url, settings.secret_keys)


async def run_users_link(args: argparse.Namespace) -> int:
    from pydantic import SecretStr

    from bot.domain.access import same_user
    from bot.store.records import Link

    settings = _settings(args)
    # CFLOW_USERNAME: to refuse linking anyone to the service account the poller reads with.
    settings.require("CFLOW_BOT_SECRET_KEY", "CFLOW_USERNAME")
    if same_user(args.cflow_username, settings.cflow_username):
        print(
            f"cflow-bot: {args.cflow_username!r} is the bot's service account (CFLOW_USERNAME):"
            " nobody acts as it. Link the person's own Cflow account.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    key = sys.stdin.readline().strip()
    if not key:
        print("cflow-bot: give the Cflow user key on standard input.", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    store = await _admin_store(args)
    try:
        link = Link(args.slack_user_id, args.cflow_username, SecretStr(key), linked_by="cli")
        await store.save_link(link)
    finally:
        await store.close()
    print(f"Linked {args.slack_user_id} to Cflow user {args.cflow_username}.")
    return 0


async def run_users_unlink(args: argparse.Namespace) -> int:
    store = await _admin_store(args)
    try:
        removed = await store.delete_link(args.slack_user_id)
    finally:
        await store.close()
    print(f"Unlinked {args.slack_user_id}." if removed else f"{args.slack_user_id} had no link.")
    return 0 if removed else EXIT_FAILED


async def run_users_list(args: argparse.Namespace) -> int:
    store = await _admin_store(args)
    try:
        links = await store.list_links()
    finally:
        await store.close()
    for link in links:
        by = link.linked_by or "self"
        print(f"{link.slack_user_id}\t{link.cflow_username}\tlinked by {by}\t{_key_state(link)}")
    if not links:
        print("No links.")
    return 0


def _key_state(link: Any) -> str:
    if not link.readable:
        return "key unreadable with CFLOW_BOT_SECRET_KEY: link again"
    if link.key_refused_at is not None:
        return f"key refused by Cflow since {link.key_refused_at:%Y-%m-%d %H:%M} UTC: link again"
    return "key ok"


async def run_users_reencrypt(args: argparse.Namespace) -> int:
    """After adding a new key in front of CFLOW_BOT_SECRET_KEY: once this reports no
    unreadable row, the older keys can be removed."""
    settings = _settings(args)
    settings.require("CFLOW_BOT_SECRET_KEY")
    store = await _admin_store(args)
    try:
        done = await store.reencrypt_links()
        steps = await store.reencrypt_steps()
    finally:
        await store.close()
    print(f"Re-encrypted {done.rewrapped} keys with the newest CFLOW_BOT_SECRET_KEY.")
    if steps:
        print(f"Re-encrypted the tokens of {steps} waiting Workflow Builder steps.")
    for slack_user_id in done.unreadable:
        print(f"{slack_user_id}: no key in CFLOW_BOT_SECRET_KEY reads it; they must link again.")
    return EXIT_FAILED if done.unreadable else 0
