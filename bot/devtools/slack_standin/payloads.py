"""Realistic Slack request payloads, signed for real, for tests and the local playground."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

if TYPE_CHECKING:
    from bot.devtools.slack_standin.slack import SlackStandIn

TEAM = {"id": "T0TEST", "domain": "test-team"}
MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"
# Read as text: PyYAML is only a test dependency, and the playground reads this too.
SHOULD_ESCAPE = re.compile(r"^\s*should_escape:\s*(true|false)\b", re.MULTILINE)
# What Slack's composer turns into markup: a link, an email, an @ or # before a known name.
TYPED_MARKUP = re.compile(
    r"(?P<url>https?://[^\s<>]*[^\s<>.,;:!?)'\"])"
    r"|(?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
    r"|(?<![\w@#&])(?P<sigil>[@#])(?P<name>\w(?:[\w.-]*\w)?)"
)
SPECIAL_MENTIONS = frozenset({"here", "channel", "everyone"})
BARE_USER = re.compile(r"<@([UW][A-Z0-9]+)\|[^>]*>")


def sign(
    body: str,
    secret: str,
    timestamp: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> dict[str, str]:
    """Headers Slack sends: `v0=` HMAC-SHA256 of `v0:{timestamp}:{body}`, computed by
    slack_sdk's own verifier (what Bolt checks with), not by hand."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None  # None only without a timestamp
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
        "Content-Type": content_type,
    }


def form(payload: dict[str, Any]) -> str:
    """Interactivity arrives as a form with one field, `payload`, holding JSON."""
    return urlencode({"payload": json.dumps(payload)})


def block_action(
    user: str,
    action: dict[str, Any],
    *,
    channel: str,
    message: dict[str, Any],
    response_url: str,
    trigger_id: str = "1337.42.abcd",
    is_ephemeral: bool = False,
) -> dict[str, Any]:
    container = {
        "type": "message",
        "message_ts": message["ts"],
        "channel_id": channel,
        "is_ephemeral": is_ephemeral,
    }
    return _clicked(user, action, container, trigger_id) | {
        "channel": {"id": channel, "name": "approvals"},
        "message": message,
        "response_url": response_url,
    }


def unfurl_action(
    user: str,
    action: dict[str, Any],
    *,
    channel: str,
    message_ts: str,
    attachment: dict[str, Any],
    response_url: str,
    trigger_id: str = "1337.45.mnop",
) -> dict[str, Any]:
    """A click in an app's unfurl: Slack sends no `message` (the message is a person's),
    but `app_unfurl` with the app's own blocks, and a `message_attachment` container
    (docs.slack.dev/messaging/unfurling-links-in-messages)."""
    url = attachment["app_unfurl_url"]
    container = {
        "type": "message_attachment",
        "message_ts": message_ts,
        "attachment_id": attachment["id"],
        "channel_id": channel,
        "is_ephemeral": False,
        "is_app_unfurl": True,
        "app_unfurl_url": url,
    }
    unfurl = {"id": attachment["id"], "blocks": attachment.get("blocks") or []}
    unfurl |= {"app_unfurl_url": url, "is_app_unfurl": True}
    return _clicked(user, action, container, trigger_id) | {
        "channel": {"id": channel, "name": "approvals"},
        "app_unfurl": unfurl,
        "response_url": response_url,
    }


def view_action(
    user: str, action: dict[str, Any], *, view: dict[str, Any], trigger_id: str
) -> dict[str, Any]:
    """A click in a modal or the Home tab: Slack sends the view, with its state so far."""
    container = {"type": "view", "view_id": view["id"]}
    return _clicked(user, action, container, trigger_id) | {"view": view}


def _clicked(
    user: str, action: dict[str, Any], container: dict[str, Any], trigger_id: str
) -> dict[str, Any]:
    """What every `block_actions` payload carries, wherever the click was."""
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": TEAM["id"]},
        "api_app_id": "ATEST",
        "token": "legacy-verification-token",
        "team": TEAM,
        "container": container,
        "trigger_id": trigger_id,
        "actions": [{"action_ts": f"{time.time():.6f}", **action}],
    }


def message_shortcut(
    user: str,
    callback_id: str,
    message: dict[str, Any],
    *,
    channel: str,
    channel_name: str,
    response_url: str,
    trigger_id: str,
) -> dict[str, Any]:
    """A message shortcut (`message_action`), chosen in a message's "…" menu: Slack sends
    the whole message (its text with Slack's markup, its ts, its thread_ts in a thread)."""
    return {
        "type": "message_action",
        "token": "legacy-verification-token",
        "action_ts": f"{time.time():.6f}",
        "team": TEAM,
        "user": {"id": user, "name": user.lower(), "team_id": TEAM["id"]},
        "channel": {"id": channel, "name": channel_name},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id,
        "response_url": response_url,
        "message_ts": message["ts"],
        "message": {"type": "message", **message},
    }


def global_shortcut(user: str, callback_id: str, *, trigger_id: str) -> dict[str, Any]:
    """A global shortcut (`shortcut`), from the composer's shortcuts or search: no
    channel, no message, and no response_url."""
    return {
        "type": "shortcut",
        "token": "legacy-verification-token",
        "action_ts": f"{time.time():.6f}",
        "team": TEAM,
        "user": {"id": user, "username": user.lower(), "team_id": TEAM["id"]},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id,
    }


def view_submission(
    user: str,
    callback_id: str,
    values: dict[str, Any],
    *,
    private_metadata: str = "",
    view_id: str = "V0TEST",
) -> dict[str, Any]:
    """`values` maps block_id/action_id (the same string here) to an element state."""
    return {
        "type": "view_submission",
        "team": TEAM,
        "user": {"id": user, "team_id": TEAM["id"]},
        "api_app_id": "ATEST",
        "trigger_id": "1337.43.efgh",
        "view": {
            "id": view_id,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "hash": "1.abc",
            "state": {"values": {key: {key: state} for key, state in values.items()}},
        },
    }


def submitted_view(
    user: str, view: dict[str, Any], values: dict[str, Any], *, trigger_id: str
) -> dict[str, Any]:
    """A modal submitted as Slack submits it: the whole view, `values` in Slack's shape
    ({block_id: {action_id: state}})."""
    state = {"values": values}
    return {
        "type": "view_submission",
        "team": TEAM,
        "user": {"id": user, "username": user.lower(), "team_id": TEAM["id"]},
        "api_app_id": "ATEST",
        "trigger_id": trigger_id,
        "view": view | {"state": state},
    }


def closed_view(user: str, view: dict[str, Any]) -> dict[str, Any]:
    """Slack tells an app a modal was closed when it asked to be (`notify_on_close`)."""
    return {
        "type": "view_closed",
        "team": TEAM,
        "user": {"id": user, "username": user.lower(), "team_id": TEAM["id"]},
        "api_app_id": "ATEST",
        "view": view,
        "is_cleared": False,
    }


def initial_state(view: dict[str, Any]) -> dict[str, Any]:
    """What Slack submits for inputs the person did not touch: their initial values
    (a text input with none is submitted with value null)."""
    state: dict[str, Any] = {}
    for block in view.get("blocks") or []:
        element = block.get("element") or {}
        if block.get("type") != "input" or "action_id" not in element:
            continue
        kind = element["type"]
        if kind == "plain_text_input":
            state[block["block_id"]] = {"type": kind, "value": element.get("initial_value")}
        elif kind in ("radio_buttons", "static_select"):
            state[block["block_id"]] = {
                "type": kind,
                "selected_option": element.get("initial_option"),
            }
        elif kind in ("checkboxes", "multi_static_select"):
            chosen = element.get("initial_options") or []
            state[block["block_id"]] = {"type": kind, "selected_options": chosen}
        elif kind == "timepicker":
            state[block["block_id"]] = {"type": kind, "selected_time": element.get("initial_time")}
        elif kind == "datepicker":
            state[block["block_id"]] = {"type": kind, "selected_date": element.get("initial_date")}
        elif kind == "users_select":
            state[block["block_id"]] = {"type": kind, "selected_user": element.get("initial_user")}
    return state


def slash_command(
    user: str,
    text: str,
    *,
    response_url: str,
    channel: str = "C0NOTIFY",
    channel_name: str = "approvals",
    trigger_id: str = "1337.44.ijkl",
) -> str:
    """A slash command is a plain form (no JSON payload)."""
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "channel_id": channel,
            "channel_name": channel_name,
            "user_id": user,
            "user_name": user.lower(),
            "command": "/cflow",
            "text": text,
            "api_app_id": "ATEST",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )


def as_slack_sends(typed: str, slack: SlackStandIn) -> str:
    """The `text` of a slash command when a person types `typed`, as the repository's
    manifest makes Slack send it. With `should_escape: true`, an `@person`, `@group` or
    `#channel` that `slack` knows becomes Slack's markup (`<@U…|name>`,
    `<!subteam^S…|@name>`, `<#C…|name>`), a link `<https://…>`, and `&`, `<`, `>` in the
    rest `&amp;`, `&lt;`, `&gt;`; with false, the text as typed. Tests and the playground
    type as people do, so the bot meets what Slack really sends it."""
    return _marked_up(typed, slack) if manifest_escapes() else typed


def message_text_as_sent(typed: str, slack: SlackStandIn) -> str:
    """A message's `text` as Slack keeps it when a person writes `typed`: the markup of
    a command (`as_slack_sends`), but a person mentioned by id alone (`<@U…>`)."""
    return BARE_USER.sub(r"<@\1>", _marked_up(typed, slack))


def _marked_up(typed: str, slack: SlackStandIn) -> str:
    sent, done = [], 0
    for match in TYPED_MARKUP.finditer(typed):
        markup = _markup_for(match, slack)
        if markup is not None:
            sent += [_escaped(typed[done : match.start()]), markup]
            done = match.end()
    return "".join(sent) + _escaped(typed[done:])


def manifest_escapes(manifest: Path = MANIFEST) -> bool:
    """`should_escape` of the manifest's slash command. Outside a clone (no manifest.yml
    beside the package) as the repository's manifest sets it: true."""
    if not manifest.exists():
        return True
    found = SHOULD_ESCAPE.search(manifest.read_text(encoding="utf-8"))
    if found is None:
        raise ValueError(f"{manifest} sets no should_escape")
    return found.group(1) == "true"


def _markup_for(match: re.Match[str], slack: SlackStandIn) -> str | None:
    """Slack's markup for one link or mention; None where Slack leaves the text alone."""
    if match.group("url"):
        return f"<{_escaped(match.group('url'))}>"
    if match.group("email"):
        return f"<mailto:{match.group('email')}|{match.group('email')}>"
    name = match.group("name")
    if match.group("sigil") == "#":
        channel = slack.channel_named(name)
        return f"<#{channel.id}|{channel.name}>" if channel else None
    if name in SPECIAL_MENTIONS:
        return f"<!{name}>"
    user = slack.user_named(name)
    if user is not None:
        return f"<@{user['id']}|{user['name']}>"
    group = slack.user_group_named(name)
    return f"<!subteam^{group}|@{name}>" if group else None


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def event_callback(event: dict[str, Any]) -> str:
    """Events API requests are JSON bodies."""
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM["id"],
            "api_app_id": "ATEST",
            "event": event,
            "type": "event_callback",
            "event_id": "Ev0TEST",
            "event_time": int(time.time()),
        }
    )
