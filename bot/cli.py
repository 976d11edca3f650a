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

from bot.cflow import CflowClient, create_session
from bot.check import check_cflow, check_slack
from bot.logs import configure_logging
from bot.settings import CFLOW_SERVICE_ACCOUNT, Settings, SettingsError, load_settings

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
    configure_logging(settings.log_level)
    return settings


async def run_sandbox(args: argparse.Namespace) -> int:
    from bot.sandbox.seed import demo_state, describe_credentials
    from bot.sandbox.server import run_sandbox as serve_sandbox

    configure_logging("INFO")
    state = demo_state(now=datetime.now(UTC))
    state.latency = args.latency
    state.failure_rate = args.failure_rate
    print(describe_credentials(state, f"http://{args.host}:{args.port}"), flush=True)
    await serve_sandbox(state, args.host, args.port)
    return 0


async def run_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    settings.require(*CFLOW_SERVICE_ACCOUNT, "SLACK_BOT_TOKEN")
    assert settings.slack_bot_token is not None
    async with create_session() as session:
        cflow = CflowClient(session, str(settings.cflow_base_url))
        slack = AsyncWebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_base,
            session=session,
        )
        results = [
            await check_cflow(cflow, settings.service_credentials(), str(settings.cflow_base_url)),
            await check_slack(slack),
        ]
    for result in results:
        print(result.line())
    return 0 if all(result.ok for result in results) else EXIT_FAILED
