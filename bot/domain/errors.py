"""Domain errors: what cannot be done for a person, raised where it is found.

Each carries the bot's own words (mrkdwn, with anything from Cflow already escaped);
bot/inbound/answers.py turns every one of them into the person's private answer.
"""

from __future__ import annotations


class AnswerError(Exception):
    """A clear "no" in the bot's own words, e.g. "only admins may do that"."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class NotLinkedError(Exception):
    """The person has not linked a Cflow account, so nothing can be done as them."""


class DecisionError(AnswerError):
    """A decision that was not made. `kind` names it in the metrics; `card_restored` is
    False when the cards could not be re-rendered from Cflow, so that the listener puts
    back the message that was clicked and no card stays "busy"."""

    kind = "failed"

    def __init__(self, text: str, *, card_restored: bool = True) -> None:
        super().__init__(text)
        self.card_restored = card_restored


class BusyError(DecisionError):
    """Someone else is acting on the request right now."""

    kind = "busy"


class StaleCardError(DecisionError):
    """The request moved on since the card was posted: nothing was done."""

    kind = "stale"


class CflowRefusedError(DecisionError):
    """Cflow said no, in its own words."""

    kind = "refused"


class UnknownOutcomeError(DecisionError):
    """Cflow did not confirm, and re-reading did not show it either way."""

    kind = "unknown"


class UnreadableRequestError(DecisionError):
    """Cflow will not show this person the request."""

    kind = "unreadable"


class KeyRefusedError(DecisionError):
    """Cflow no longer accepts the person's linked key: they must link again."""

    kind = "relink"


class NotReviewerError(DecisionError):
    """The person is not among the reviewers of the request's current stage."""

    kind = "not_reviewer"


class PolicyRefusedError(DecisionError):
    """The workflow's policy keeps this decision out of Slack (web-only, own request)."""

    kind = "policy"


class CommentRequiredError(DecisionError):
    """The workflow's policy asks a comment for this decision, and none was given."""

    kind = "comment_required"
