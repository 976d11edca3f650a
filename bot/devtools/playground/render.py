"""Block Kit as HTML (pure): what Slack would show for a message, a modal or the Home tab.

The page's script turns clicks into Slack payloads from data attributes alone:

- `data-block-id` on every block (Slack's own id, or one made up the way Slack does
  when the bot gave none: stable for the same `block_ids_of` and position);
- `data-action='{"action_id","block_id","type"}'` on every interactive element outside
  input blocks, plus `"text"` and `"value"` (when it has one) and `"style"` (when set)
  for a button, as Slack's block_actions payload carries them;
- `data-input='{"block_id","action_id","type"}'` on every element inside an input
  block, which is (or holds) a real form control to read the value from;
- `data-option='<the option, as given>'` on each option of a menu, select, checkbox
  group or radio group; `data-confirm='<the confirm object, as given>'` on an element
  that asks first.

Every text is escaped, URLs are kept only for http(s) (and mailto in mrkdwn), and no
element carries an event handler, so nothing a payload holds can run in the page. A
block or element the renderer does not know shows as a small "unsupported" note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.blocks.ids import Shortcut
from bot.devtools.playground.blocks import block_list_html
from bot.devtools.playground.mrkdwn import Names, esc, mrkdwn_html, plain_text_html

Json = Mapping[str, Any]


def blocks_html(
    blocks: Sequence[Mapping[str, Any]], names: Names, *, block_ids_of: str = ""
) -> str:
    """Blocks as HTML; `block_ids_of` (a message's ts, a view's id) seeds made-up ids."""
    return block_list_html(blocks, names, seed=block_ids_of, errors={})


def message_html(message: Mapping[str, Any], names: Names) -> str:
    """One message as Slack shows it: who, when, its blocks (or its text), and badges."""
    ts = str(message.get("ts") or "")
    blocks = _block_list(message.get("blocks"))
    if blocks:
        body = block_list_html(blocks, names, seed=ts, errors={})
    else:
        body = mrkdwn_html(str(message.get("text") or ""), names)
    ephemeral = bool(message.get("ephemeral"))
    thread = message.get("thread_ts")
    return (
        f'<article class="message{" bk-ephemeral" if ephemeral else ""}" data-ts="{esc(ts)}"'
        + (f' data-thread-ts="{esc(thread)}"' if thread else "")
        + ">"
        + _message_header(message, names, ephemeral)
        + f'<div class="bk-message-body">{body}</div>'
        + unfurls_html(message.get("attachments"), names, seed=ts)
        + ('<span class="bk-edited">(edited)</span>' if message.get("edited") else "")
        + _replies_html(ts, message.get("replies"))
        + ("" if ephemeral else _shortcuts_menu())
        + "</article>"
    )


def unfurls_html(attachments: object, names: Names, *, seed: str) -> str:
    """An app's link previews under a message (attachments with `is_app_unfurl`): each
    marked with its link, which a click in it reports as Slack does."""
    shown = []
    for attachment in _block_list(attachments):
        if not isinstance(attachment, Mapping) or not attachment.get("is_app_unfurl"):
            continue
        url = str(attachment.get("app_unfurl_url") or "")
        blocks = _block_list(attachment.get("blocks"))
        body = block_list_html(blocks, names, seed=f"{seed}-{attachment.get('id')}", errors={})
        shown.append(f'<div class="bk-unfurl" data-unfurl-url="{esc(url)}">{body}</div>')
    return "".join(shown)


def _message_header(message: Json, names: Names, ephemeral: bool) -> str:
    user = str(message.get("user") or "")
    author = names.users.get(user) or user or "app"
    badge = '<span class="bk-ephemeral-badge">Only visible to you</span>' if ephemeral else ""
    app = '<span class="bk-app-badge">APP</span>' if message.get("from_app", True) else ""
    return (
        f'<header class="bk-message-header"><span class="bk-author">{esc(author)}</span>'
        f"{app}{_time_html(message.get('ts'))}{badge}</header>"
    )


def _shortcuts_menu() -> str:
    """The message's "…" menu, with the app's message shortcut (manifest.yml)."""
    return (
        '<details class="bk-message-menu"><summary aria-label="More actions">⋯</summary>'
        '<ul class="bk-menu"><li><button type="button" class="bk-shortcut" '
        f'data-shortcut="{esc(Shortcut.REQUEST_APPROVAL)}">Request approval</button></li>'
        "</ul></details>"
    )


def _time_html(ts: object) -> str:
    """The message's time, in UTC: the page shows every message on one clock."""
    try:
        moment = datetime.fromtimestamp(float(str(ts)), UTC)
    except (ValueError, OverflowError, OSError):
        return ""
    shown = moment.strftime("%H:%M")
    return f'<time class="bk-time" datetime="{moment.isoformat()}">{shown}</time>'


def _replies_html(ts: str, replies: object) -> str:
    if isinstance(replies, bool) or not isinstance(replies, int) or replies < 1:
        return ""
    label = "1 reply" if replies == 1 else f"{replies} replies"
    return f'<a class="bk-replies" href="#thread-{esc(ts)}" data-thread="{esc(ts)}">{label}</a>'


def view_html(
    view: Mapping[str, Any], names: Names, *, errors: Mapping[str, str] | None = None
) -> str:
    """A modal as a form (title, blocks, close and submit), or the Home tab's blocks;
    `errors` are a `response_action: errors` answer, shown under the blocks they name."""
    view_id = str(view.get("id") or "")
    blocks = _block_list(view.get("blocks"))
    body = block_list_html(blocks, names, seed=view_id, errors=errors or {})
    if view.get("type") != "modal":
        return f'<section class="home" data-view-id="{esc(view_id)}">{body}</section>'
    return (
        f'<form class="modal" method="dialog" data-view-id="{esc(view_id)}" '
        f'data-callback-id="{esc(view.get("callback_id") or "")}">'
        f'<header class="bk-modal-header"><h1 class="bk-modal-title">'
        f"{plain_text_html(view.get('title'))}</h1></header>"
        f'<div class="bk-modal-body">{body}</div>{_modal_footer(view)}</form>'
    )


def _modal_footer(view: Json) -> str:
    close = plain_text_html(view.get("close")) or "Cancel"
    buttons = (
        '<button type="button" class="bk-button bk-modal-close" data-view-action="close">'
        f"{close}</button>"
    )
    if isinstance(view.get("submit"), Mapping):
        buttons += (
            '<button type="submit" class="bk-button bk-primary bk-modal-submit" '
            f'data-view-action="submit">{plain_text_html(view["submit"])}</button>'
        )
    return f'<footer class="bk-modal-footer">{buttons}</footer>'


def _block_list(value: object) -> Sequence[Any]:
    """A payload's blocks; anything but a list (None, a stray string) holds none."""
    return value if isinstance(value, list | tuple) else []
