"""Errors the store raises, so callers can tell a misconfiguration from a database outage."""

from __future__ import annotations

SECRET_KEY_SETTING = "CFLOW_BOT_SECRET_KEY"


class StoreError(Exception):
    """Base of the store's own errors (database driver errors pass through unchanged)."""


class StoreKeyError(StoreError):
    """User keys cannot be encrypted or decrypted with the configured secret keys."""


class UnreadableLinkError(StoreKeyError):
    """This person's stored key decrypts with none of the configured secret keys (the
    one that wrapped it was removed): they must link again."""

    def __init__(self, slack_user_id: str) -> None:
        self.slack_user_id = slack_user_id
        super().__init__(
            f"The stored Cflow user key of {slack_user_id} cannot be decrypted with any key "
            f"in {SECRET_KEY_SETTING}: put the old key back (after the new one), or they "
            "must link their Cflow account again."
        )


class MissingSecretKeyError(StoreKeyError):
    """No secret key is configured, so user keys can be neither stored nor read."""

    def __init__(self) -> None:
        super().__init__(
            f"{SECRET_KEY_SETTING} is not set, so Cflow user keys cannot be stored or read "
            f"(they are never kept in clear). Generate one with `cflow-bot keygen` and set "
            f"{SECRET_KEY_SETTING}."
        )


class SchemaTooNewError(StoreError):
    """The database was migrated by a newer cflow-bot than this one.

    `found` and `known` name the schemas, e.g. "revision 0002" (Alembic's) or "version 4"
    (the numbering of releases before Alembic)."""

    def __init__(self, found: str, known: str) -> None:
        self.found, self.known = found, known
        super().__init__(
            f"The database schema is at {found} but this cflow-bot only knows up to {known}; "
            "upgrade cflow-bot before pointing it at this database."
        )
