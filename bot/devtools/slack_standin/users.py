"""users.* of the stand-in, and the people (and user groups) of its workspace."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.devtools.slack_standin.records import Handler, Params, StandInError
from bot.devtools.slack_standin.workspace import Workspace


class Users:
    """The workspace's people, in Slack's user shape."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace
        self._records = workspace.records

    def handlers(self) -> dict[str, Handler]:
        return {"users.info": self.info, "users.lookupByEmail": self.lookup_by_email}

    def add_user(
        self,
        user_id: str,
        email: str,
        name: str | None = None,
        *,
        is_admin: bool = False,
        tz: str = "America/Los_Angeles",
        deleted: bool = False,
    ) -> Params:
        """Register a user for users.info / users.lookupByEmail, in Slack's user shape."""
        name = name or email.split("@")[0]
        now = datetime.now(ZoneInfo(tz))
        offset = now.utcoffset()
        user = {
            "id": user_id,
            "team_id": self._workspace.team_id,
            "name": name,
            "real_name": name,
            "deleted": deleted,
            "tz": tz,
            "tz_label": now.tzname(),
            "tz_offset": int(offset.total_seconds()) if offset else 0,
            "is_admin": is_admin,
            "is_owner": False,
            "is_bot": False,
            "profile": {"email": email, "real_name": name, "display_name": name},
        }
        self._records.users[user_id] = user
        return user

    def add_user_group(self, group_id: str, handle: str) -> None:
        """A user group people can mention as `@handle`."""
        self._records.user_groups[handle] = group_id

    def user_named(self, name: str) -> Params | None:
        """The user a typed `@name` picks in Slack's composer: by username or display name."""
        wanted = name.casefold()
        for user in self._records.users.values():
            names = (user["name"], user["profile"].get("display_name") or "")
            if not user["deleted"] and wanted in (n.casefold() for n in names):
                return user
        return None

    def user_group_named(self, handle: str) -> str | None:
        """The id of the user group a typed `@handle` picks."""
        return self._records.user_groups.get(handle)

    def info(self, params: Params) -> Params:
        user = self._records.users.get(params.get("user", ""))
        if user is None:
            raise StandInError("user_not_found")
        return {"user": user}

    def lookup_by_email(self, params: Params) -> Params:
        email = str(params.get("email", "")).lower()
        for user in self._records.users.values():
            if user["profile"]["email"].lower() == email:
                return {"user": user}
        raise StandInError("users_not_found")
