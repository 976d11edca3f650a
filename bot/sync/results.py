"""What a Slack call came to: a `Result` per message, and what a failure means for it.

DONE, RETRY (not now: rate limit, 5xx, timeout, connection), LATER (held for the
reader's quiet hours) or FAILED (refused for good); a failure also tells whether the
message may have reached Slack anyway (its answer lost), so it is looked for, not
posted again.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.outbound.pacing import Superseded

# Slack's errors that say "not now" rather than "never".
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
GONE_MESSAGE_ERRORS = frozenset({"message_not_found", "cant_update_message"})


class Result(Enum):
    DONE = "done"
    RETRY = "retry"
    LATER = "later"
    FAILED = "failed"


def worst(results: Sequence[Result]) -> Result:
    """RETRY if anything is to be retried (FAILED ones are settled), then LATER, else DONE
    or FAILED."""
    for wanted in (Result.RETRY, Result.LATER):
        if wanted in results:
            return wanted
    return Result.FAILED if Result.FAILED in results else Result.DONE


class SlackFailure:
    """What a failed Slack call means for retrying it."""

    def __init__(self, error: Exception) -> None:
        self.reason, self.transient, self.maybe_delivered = _classify(error)

    def __str__(self) -> str:
        return self.reason

    @property
    def result(self) -> Result:
        return Result.RETRY if self.transient else Result.FAILED


def _classify(error: Exception) -> tuple[str, bool, bool]:
    """(reason, transient, maybe delivered); anything but Slack's and the network's raises."""
    if isinstance(error, Superseded):
        return "superseded", True, False  # never sent: a newer change does what is due
    if isinstance(error, SlackApiError):
        reason = str(error.response.get("error") or f"http_{error.response.status_code}")
        status = error.response.status_code
        transient = reason in TRANSIENT_ERRORS or status == 429 or status >= 500
        # A 429 was refused before anything happened; a 5xx may come after the post.
        return reason, transient, transient and status != 429 and reason != "ratelimited"
    if isinstance(error, aiohttp.ClientConnectorError):
        return "connection_failed", True, False  # nothing was sent
    if isinstance(error, aiohttp.ClientError | TimeoutError | OSError):
        return type(error).__name__, True, True
    raise error
