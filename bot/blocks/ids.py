"""Every action, view and block id the bot uses, and the small payloads buttons carry.

Ids live here so that the Block Kit builders and the listeners cannot disagree, and a
button's `value` is parsed back in exactly one place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from bot.domain.refs import RequestRef

MAX_METADATA = 3000  # Slack's limit for a view's private_metadata
# A channel's id as Slack writes it (public C…, private G…, DM D…): the one pattern.
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")
# A person's id as Slack writes it (U…, or W… in an Enterprise Grid): the one pattern.
USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


class Action(StrEnum):
    APPROVE = "cflow_approve"
    REJECT = "cflow_reject"
    MORE = "cflow_more"  # overflow menu: approve with comment, reassign
    OPEN_IN_CFLOW = "cflow_open"
    LINK = "cflow_link"  # "Link your Cflow account" button
    SHOW_MORE = "cflow_show_more"  # next page of /cflow pending; value "<page> <scope>"
    EDIT_DRAFT = "cflow_edit_draft"
    DELETE_DRAFT = "cflow_delete_draft"
    HOME_SELECT = "cflow_home_select"  # a checkbox on the Home tab (bulk approval)
    HOME_APPROVE_SELECTED = "cflow_home_approve_selected"
    HOME_CLEAR = "cflow_home_clear"
    HOME_PAGE = "cflow_home_page"  # value: the page of the Home tab to show
    HOME_DETAILS = "cflow_home_details"
    # A roundup's summary or grouped DM: list it; value the group id. The wire value keeps
    # the roundup's earlier name ("burst"): messages already posted carry it, and their
    # buttons must keep working.
    ROUNDUP_LIST = "cflow_burst_list"
    SNOOZE = "cflow_snooze"  # a reminder's "remind me later"; value "<hour|tomorrow> <group>"
    AWAY = "cflow_away"  # Home tab: "Set out of office" (opens its modal)
    BACK = "cflow_back"  # Home tab: "I'm back"
    SETTINGS = "cflow_settings"  # "Change" beside the Home tab's settings: opens them
    # An admin's DM about a new workflow: where its cards go; value: the workflow id
    ROUTE_DEFAULT = "cflow_route_default"
    ROUTE_CHOOSE = "cflow_route_choose"  # opens a modal to pick a channel
    ROUTE_DMS = "cflow_route_dms"
    # A decision waiting out its undo window: "p:<pending id>", or "b:<batch id>" (a bulk
    # approval's, on the Home tab)
    UNDO = "cflow_undo"


class MoreOption(StrEnum):
    """Values of the overflow menu's options (the request ref goes in the menu's block_id)."""

    APPROVE_WITH_COMMENT = "approve_comment"
    REASSIGN = "reassign"


class View(StrEnum):
    REJECT = "cflow_reject_modal"
    APPROVE_COMMENT = "cflow_approve_comment_modal"
    REASSIGN = "cflow_reassign_modal"
    LINK = "cflow_link_modal"
    NEW_REQUEST = "cflow_new_request_modal"
    EDIT_DRAFT = "cflow_edit_draft_modal"
    WORKING = "cflow_working_modal"  # progress and results: nothing to submit
    SETTINGS = "cflow_settings_modal"  # how and when the person is told
    AWAY = "cflow_away_modal"
    ROUTE = "cflow_route_modal"  # the channel a new workflow's cards go to
    PICK_WORKFLOW = "cflow_pick_workflow_modal"  # a shortcut's first step: which workflow
    MESSAGE_REQUEST = "cflow_message_request_modal"  # the form, made from a Slack message


class Shortcut(StrEnum):
    """The callback ids of the app's shortcuts (manifest.yml, features.shortcuts)."""

    REQUEST_APPROVAL = "cflow_request_approval"  # a message's "…" menu
    NEW_REQUEST = "cflow_new_request"  # the global shortcut, from anywhere


class Input(StrEnum):
    """block_id / action_id pairs of modal inputs (same string for both)."""

    REASON = "reason"
    COMMENT = "comment"
    REASSIGN_TO = "reassign_to"
    CFLOW_USERNAME = "cflow_username"
    USER_KEY = "user_key"
    NOTIFY_MODE = "notify_mode"
    DIGEST_AT = "digest_at"
    FINAL_DMS = "final_dms"
    QUIET_FROM = "quiet_from"
    QUIET_TO = "quiet_to"
    WORK_DAYS = "work_days"
    AWAY_UNTIL = "away_until"
    DELEGATE = "delegate"
    ROUTE_CHANNEL = "route_channel"
    WORKFLOW = "workflow"  # the workflow a shortcut's request goes to


def ref_from_action(action: dict[str, Any], block_id: str | None = None) -> RequestRef | None:
    """The request a click acts on: a button's `value`, else the block_id (the overflow)."""
    return RequestRef.decode(action.get("value")) or RequestRef.decode(
        block_id or action.get("block_id")
    )


def more_option(action: dict[str, Any]) -> MoreOption | None:
    """Which overflow option was picked; None for anything we did not offer."""
    value = (action.get("selected_option") or {}).get("value")
    try:
        return MoreOption(str(value))
    except ValueError:
        return None


def values_of(view_state: Mapping[str, Any]) -> dict[str, str | None]:
    """{action_id: value} from a view_submission's `view.state.values` (or `view.state`)."""
    values = view_state.get("values", view_state)
    flat: dict[str, str | None] = {}
    for block in values.values():
        for action_id, element in (block or {}).items():
            flat[action_id] = _element_value(element or {})
    return flat


def _element_value(element: dict[str, Any]) -> str | None:
    """plain_text_input sends `value`; a select sends `selected_option`."""
    if "selected_option" in element:
        return (element["selected_option"] or {}).get("value")
    return element.get("value")


def is_channel_id(value: str) -> bool:
    return bool(CHANNEL_ID.fullmatch(value))


def is_user_id(value: str) -> bool:
    return bool(USER_ID.fullmatch(value))
