"""The running bot under test: settings, signed requests from "Slack", and card helpers.

One harness for every end-to-end test: the app runs in-process on a free port, talks to
the fake Slack Web API and the Cflow sandbox over real sockets, and each Slack request
is signed for real with the signing secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.cflow import Credentials
from bot.sandbox.state import SandboxState
from bot.server import RunningBot
from bot.services import Services
from bot.settings import load_settings
from bot.store.base import Link
from bot.testing.fake_slack import FakeSlack, SlackCall, StoredMessage
from bot.testing.payloads import (
    block_action,
    form,
    initial_state,
    sign,
    slash_command,
    view_submission,
)


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
        return [c for c in self.state.calls if operation in (None, c.operation)]


SECRET = "test-signing-secret"
CHANNEL = "C0NOTIFY"
PEOPLE = {"U0BOB": "bob", "U0CAROL": "carol", "U0ALICE": "alice", "U0DAVE": "dave"}


@dataclass
class Bot:
    running: RunningBot
    slack: FakeSlack
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
                c.params.get("channel") == CHANNEL and mentions(c.params, request_id)
            ),
        )
        return self.slack.message(CHANNEL, calls[0].response["ts"])

    @property
    def services(self) -> Services:
        assert self.running.services is not None
        return self.running.services

    async def cycles(self, count: int = 2, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Wait until the poller has completed `count` more whole cycles."""
        health = self.services.poller_health
        target = health.cycles + count
        deadline = time.monotonic() + timeout
        while health.cycles < target:
            if time.monotonic() > deadline:
                raise AssertionError(f"the poller completed no {count} cycles in {timeout} s")
            await asyncio.sleep(0.02)

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
        self, user: str, card: StoredMessage, action_id: str, option: str | None = None
    ) -> aiohttp.ClientResponse:
        """A button click, or with `option` a choice in the card's overflow menu."""
        element = button(card, action_id)
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


def button(card: StoredMessage, action_id: str) -> dict[str, Any]:
    for block in card.blocks or []:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return {**element, "block_id": block.get("block_id")}
    raise AssertionError(f"no {action_id} button on the card")


def has_button(message: StoredMessage, action_id: str) -> bool:
    return f'"action_id": "{action_id}"' in json.dumps(message.blocks)


@contextlib.asynccontextmanager
async def running_bot(
    sandbox: Sandbox, http: aiohttp.ClientSession, tmp_path: Path, **settings: Any
) -> AsyncIterator[Bot]:
    async with FakeSlack() as slack:
        for user, name in PEOPLE.items():
            slack.add_user(user, f"{name}@example.com", name)
        slack.add_channel(CHANNEL, "approvals")
        options: dict[str, Any] = dict(
            cflow_base_url=sandbox.url,
            cflow_api_key=sandbox.state.api_key,
            cflow_username="cflow-bot",
            cflow_user_key="cflow-bot-key",
            slack_bot_token=slack.bot_token,
            slack_signing_secret=SECRET,
            slack_api_url=slack.api_url,
            cflow_notify_channel=CHANNEL,
            cflow_poll_interval=0.2,
            database_url=f"sqlite:///{tmp_path / 'bot.db'}",
            cflow_bot_secret_key=Fernet.generate_key().decode(),
        )
        config = load_settings(None, **(options | settings))
        async with RunningBot(config, host="127.0.0.1", port=0) as running:
            yield Bot(running, slack, sandbox, http)


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
