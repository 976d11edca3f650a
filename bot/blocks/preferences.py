"""How and when a person is told: their settings as a line, a Home section, a modal (pure).

The modal's state comes back in a view_submission; `read_settings` turns it into the new
preference, or into the input that is wrong and why (shown under that input).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from bot.blocks.ids import Action, Input, View
from bot.blocks.modals import ViewPayload, modal
from bot.blocks.primitives import Block, button, mention, plain_text, section
from bot.domain.hours import WEEKDAYS, clock_text, days_text, minutes, zone
from bot.store.records import EVERY_DAY, NotifyMode, Preference

MODES: dict[NotifyMode, str] = {
    "each": "A DM for each request",
    "digest": "One digest a day",
    "off": "No DMs (the Home tab and channels only)",
}
FINAL_TEXT = "On digest, still a DM for requests at their last stage"


def preference_line(pref: Preference) -> str:
    """ "One digest a day at 09:00 · quiet 20:00–08:00 · Mon–Fri (America/New_York)"."""
    how = MODES[pref.mode]
    if pref.mode == "digest":
        how += f" at {clock_text(pref.digest_at)}"
        how += ", and a DM at last stages" if pref.final_dms else ""
    parts = [how]
    if pref.quiet_from is not None and pref.quiet_to is not None:
        parts.append(f"quiet {clock_text(pref.quiet_from)}–{clock_text(pref.quiet_to)}")
    parts.append(days_text(pref.work_days))
    return " · ".join(parts) + f" ({pref.tz})"


def settings_blocks(pref: Preference, now: datetime) -> list[Block]:
    """The Home tab's "Your settings": the line and Change; out of office, and its button."""
    change = button("Change", Action.SETTINGS)
    return [
        {"type": "divider"},
        section(f"*Your settings*\n{preference_line(pref)}") | {"accessory": change},
        _away_block(pref, now),
    ]


def _away_block(pref: Preference, now: datetime) -> Block:
    if pref.away_until is None or pref.away_until <= now:
        return section("🏢 In the office.") | {
            "accessory": button("Set out of office", Action.AWAY)
        }
    last_day = pref.away_until.astimezone(zone(pref.tz)) - timedelta(days=1)
    to = f"; requests go to {mention(pref.delegate)}" if pref.delegate else ""
    line = f"🌴 You're away through {last_day:%a %d %b}{to}."
    return section(line) | {"accessory": button("I'm back", Action.BACK)}


def away_modal(pref: Preference, today: date) -> ViewPayload:
    """Out of office: the last day away, and who gets the requests meanwhile."""
    until: dict[str, Any] = {"type": "datepicker", "initial_date": today.isoformat()}
    delegate: dict[str, Any] = {"type": "users_select"}
    if pref.delegate:
        delegate["initial_user"] = pref.delegate
    blocks = [
        _input(Input.AWAY_UNTIL, "Away through", until),
        _input(
            Input.DELEGATE,
            "Hand my requests to",
            delegate,
            optional=True,
            hint="They act in Cflow as themselves; without anyone, your requests wait.",
        ),
    ]
    return modal(View.AWAY, "Out of office", blocks, submit="Save")


def read_away(state: dict[str, Any]) -> tuple[date, str | None] | Problem:
    values = state.get("values", state)
    picked = ((values.get(Input.AWAY_UNTIL) or {}).get(Input.AWAY_UNTIL) or {}).get("selected_date")
    try:
        last_day = date.fromisoformat(picked or "")
    except ValueError:
        return Problem(Input.AWAY_UNTIL, "Pick your last day away.")
    delegate = ((values.get(Input.DELEGATE) or {}).get(Input.DELEGATE) or {}).get("selected_user")
    return last_day, delegate or None


def settings_modal(pref: Preference) -> ViewPayload:
    blocks: list[dict[str, Any]] = [
        _input(Input.NOTIFY_MODE, "How to tell you", _mode_element(pref)),
        _input(Input.DIGEST_AT, "Digest time", _time(pref.digest_at), hint="Used on digest."),
        _input(Input.FINAL_DMS, "Final approvals", _final_element(pref), optional=True),
        _input(Input.QUIET_FROM, "Quiet from", _time(pref.quiet_from), optional=True),
        _input(Input.QUIET_TO, "Quiet until", _time(pref.quiet_to), optional=True),
        _input(Input.WORK_DAYS, "Working days", _days_element(pref)),
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Times are in your Slack time zone ({pref.tz}). Nothing is sent "
                    "in quiet hours or on other days: it waits until you are back.",
                }
            ],
        },
    ]
    return modal(View.SETTINGS, "Notifications", blocks, submit="Save")


@dataclass(frozen=True)
class Problem:
    input: str
    text: str


def read_settings(pref: Preference, state: dict[str, Any]) -> Preference | Problem:
    """The preference a submitted settings modal asks for (time zone and schedule apart)."""
    values = state.get("values", state)

    def element(input_id: Input) -> dict[str, Any]:
        return (values.get(str(input_id)) or {}).get(str(input_id)) or {}

    mode = (element(Input.NOTIFY_MODE).get("selected_option") or {}).get("value")
    if mode not in MODES:
        return Problem(Input.NOTIFY_MODE, "Choose how to be told.")
    digest_at = minutes(element(Input.DIGEST_AT).get("selected_time") or "")
    if digest_at is None:
        return Problem(Input.DIGEST_AT, "Choose a time for your digest.")
    quiet_from = minutes(element(Input.QUIET_FROM).get("selected_time") or "")
    quiet_to = minutes(element(Input.QUIET_TO).get("selected_time") or "")
    if (quiet_from is None) != (quiet_to is None):
        missing = Input.QUIET_TO if quiet_to is None else Input.QUIET_FROM
        return Problem(missing, "Give both ends of your quiet hours, or neither.")
    days = "".join(
        sorted(o["value"] for o in element(Input.WORK_DAYS).get("selected_options") or [])
    )
    if not days:
        return Problem(Input.WORK_DAYS, "Pick at least one day.")
    final = bool(element(Input.FINAL_DMS).get("selected_options"))
    return replace(
        pref,
        mode=mode,
        digest_at=digest_at,
        final_dms=final,
        quiet_from=quiet_from,
        quiet_to=quiet_to,
        work_days=days,
    )


def _input(
    input_id: Input, label: str, element: dict[str, Any], *, optional: bool = False, hint: str = ""
) -> dict[str, Any]:
    block = {
        "type": "input",
        "block_id": str(input_id),
        "label": plain_text(label),
        "element": element | {"action_id": str(input_id)},
        "optional": optional,
    }
    return block | ({"hint": plain_text(hint)} if hint else {})


def _option(value: str, text: str) -> dict[str, Any]:
    return {"text": plain_text(text), "value": value}


def _mode_element(pref: Preference) -> dict[str, Any]:
    options = [_option(mode, text) for mode, text in MODES.items()]
    chosen = next(o for o in options if o["value"] == pref.mode)
    return {"type": "radio_buttons", "options": options, "initial_option": chosen}


def _time(value: int | None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "timepicker"}
    return element | ({"initial_time": clock_text(value)} if value is not None else {})


def _final_element(pref: Preference) -> dict[str, Any]:
    option = _option("yes", FINAL_TEXT)
    return {"type": "checkboxes", "options": [option]} | (
        {"initial_options": [option]} if pref.final_dms else {}
    )


def _days_element(pref: Preference) -> dict[str, Any]:
    options = [_option(str(n), day.title()) for n, day in enumerate(WEEKDAYS, start=1)]
    days = pref.work_days or EVERY_DAY
    return {
        "type": "checkboxes",
        "options": options,
        "initial_options": [o for o in options if o["value"] in days],
    }
