"""views.* of the stand-in: modals (each person's stack of them) and the Home tab."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from bot.devtools.slack_standin.blocks import input_problems
from bot.devtools.slack_standin.records import TS_BASE_MICROS, Handler, Params, StandInError
from bot.devtools.slack_standin.workspace import Workspace

# A trigger_id opens one modal, within 3 s of the interaction that carried it.
TRIGGER_LIFETIME = 3.0


class Views:
    """Views opened, pushed, updated and published, and the modals each person has open."""

    def __init__(
        self, workspace: Workspace, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._workspace = workspace
        self._records = workspace.records
        self._clock = clock
        self._issued: dict[str, float] = {}  # trigger_id -> when its interaction happened
        self._exchanged: set[str] = set()

    def handlers(self) -> dict[str, Handler]:
        return {
            "views.open": self.open,
            "views.push": self.push,
            "views.update": self.update,
            "views.publish": self.publish,
        }

    def trigger_for(self, user_id: str) -> str:
        """A trigger_id for an interaction of `user_id`: a modal it opens is theirs."""
        trigger = f"{self._workspace.next_seq()}.{TS_BASE_MICROS}.trigger"
        self._records.triggers[trigger] = user_id
        self._issued[trigger] = self._clock()
        return trigger

    def modal_stack(self, user_id: str) -> list[Params]:
        """The modals open for `user_id`, root first (views.open, push, update)."""
        views = self._records.views
        return [views[v] for v in self._records.stacks.get(user_id, []) if v in views]

    def close_view(self, user_id: str, view_id: str | None = None) -> None:
        """The person closed the top modal (`view_id`), or all of them (None)."""
        stack = self._records.stacks.get(user_id, [])
        if view_id is None:
            stack.clear()
        elif view_id in stack:
            del stack[stack.index(view_id) :]
        self._workspace.changed()

    def answer_view(
        self, user_id: str, view_id: str, answer: Params, *, submitted: str | None = None
    ) -> None:
        """Apply a view_submission's acknowledgement (`response_action`) as Slack does.

        `submitted` is the view's hash when it was submitted: a `views.update` the app
        made after its acknowledgement may arrive here first, and is not undone."""
        views = self._records.views
        current = views.get(view_id)
        if submitted is not None and current is not None and current["hash"] != submitted:
            return
        action = answer.get("response_action")
        if action == "clear":
            self.close_view(user_id)
        elif action == "update" and view_id in views:
            old = views[view_id]
            self._make_view({"root_view_id": old["root_view_id"]} | answer["view"], view_id)
            self._workspace.changed()
        elif action == "push":
            pushed = self._make_view(answer["view"])
            self._records.stacks.setdefault(user_id, []).append(pushed["id"])
            self._workspace.changed()
        elif action != "errors":
            self.close_view(user_id, view_id)

    def view(self, view_id: str) -> Params | None:
        """A view opened, pushed, updated or published through the fake."""
        return self._records.views.get(view_id)

    def home_view(self, user_id: str) -> Params | None:
        """The App Home view last published for `user_id`."""
        view_id = self._records.home_views.get(user_id)
        return None if view_id is None else self._records.views[view_id]

    # -- methods -----------------------------------------------------------------------

    def open(self, params: Params) -> Params:
        """views.open: one from `trigger_for()` opens the modal for its person, once and
        within 3 s (Slack's `expired_trigger_id`, `exchanged_trigger_id`); any other
        non-empty trigger_id (a test's own) is accepted."""
        self._exchange(params.get("trigger_id"))
        view = self._make_view(_view_spec(params))
        user = self._records.triggers.get(params["trigger_id"])
        if user is not None:
            self._records.stacks[user] = [view["id"]]
        return {"view": view}

    def push(self, params: Params) -> Params:
        self._exchange(params.get("trigger_id"))
        view = self._make_view(_view_spec(params))
        user = self._records.triggers.get(params["trigger_id"])
        if user is not None:
            self._records.stacks.setdefault(user, []).append(view["id"])
        return {"view": view}

    def update(self, params: Params) -> Params:
        views = self._records.views
        external = {v["external_id"]: v["id"] for v in views.values() if v["external_id"]}
        view_id = params.get("view_id") or external.get(params.get("external_id", ""))
        old = views.get(view_id or "")
        if old is None:
            raise StandInError("not_found")
        if params.get("hash") and params["hash"] != old["hash"]:
            raise StandInError("hash_conflict")
        spec = {"root_view_id": old["root_view_id"]} | _view_spec(params)
        return {"view": self._make_view(spec, view_id)}

    def publish(self, params: Params) -> Params:
        user_id = params.get("user_id", "")
        home_views, views = self._records.home_views, self._records.views
        old_id = home_views.get(user_id)
        if params.get("hash") and old_id and params["hash"] != views[old_id]["hash"]:
            raise StandInError("hash_conflict")
        view = self._make_view({"type": "home"} | _view_spec(params), old_id)
        home_views[user_id] = view["id"]
        return {"view": view}

    def _exchange(self, trigger: str | None) -> None:
        """Use up a trigger_id as Slack does: once, and only while it is fresh."""
        if not trigger:
            raise StandInError("invalid_trigger_id")
        issued = self._issued.get(trigger)
        if issued is None:
            return
        if trigger in self._exchanged:
            raise StandInError("exchanged_trigger_id")
        if self._clock() - issued > TRIGGER_LIFETIME:
            raise StandInError("expired_trigger_id")
        self._exchanged.add(trigger)

    def _make_view(self, spec: Params, view_id: str | None = None) -> Params:
        seq = self._workspace.next_seq()
        view_id = view_id or f"V{seq:08d}"
        view: Params = {
            "id": view_id,
            "team_id": self._workspace.team_id,
            "type": "modal",
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "state": {"values": {}},
            "clear_on_close": False,
            "notify_on_close": False,
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": self._workspace.app_id,
            "bot_id": self._workspace.bot_id,
        }
        view |= spec
        view["hash"] = f"{TS_BASE_MICROS // 1_000_000 + seq}.{seq:08x}"
        self._records.views[view_id] = view
        return view


def _view_spec(params: Params) -> Params:
    view = params.get("view")
    if not isinstance(view, Mapping):
        raise StandInError("invalid_arguments")
    problems = input_problems(view)
    if problems:
        raise StandInError("invalid_arguments", problems)
    return dict(view)
