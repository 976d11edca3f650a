"""What a request card shows (`CardView`), and the decisions it tells of (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.blocks.names import person
from bot.blocks.text import aware
from bot.cflow.models import DRAFT, Request, Stage, Workflow
from bot.domain.policy import channel_fields, channel_sees_reasons, refusal, rules_line
from bot.store.records import Decision, WorkflowPolicy

STATUS_LINES = {"approved": "✅ Approved", "completed": "✔️ Completed", DRAFT: "📝 Draft"}


ALL_DONE = frozenset({"approved", "completed"})


@dataclass(frozen=True)
class CardView:
    """Everything a request card shows; `notice` is bot-written mrkdwn and not escaped."""

    request: Request
    workflow: Workflow
    now: datetime
    decisions: Sequence[Decision] = ()
    cflow_url: str | None = None
    busy: str | None = None
    invite_to_link: bool = False
    invite_to_relink: bool = False  # their linked key stopped working: no buttons, relink
    notice: str | None = None
    actionable: bool = True  # False on a DM whose reader is not a reviewer of this stage
    away: Sequence[tuple[str, str]] = ()  # (reviewer's Cflow username, back when, as text)
    undo: str | None = None  # a decision in its undo window: the Undo button's value
    policy: WorkflowPolicy | None = None  # the workflow's rules (None: the defaults)
    reader: str | None = None  # the Cflow username of the one person it is shown to, if one
    in_channel: bool = False  # shown in a channel: only the fields its policy lets it see

    @property
    def refused(self) -> str | None:
        """Why nobody (web-only), or not this reader (their own request), decides it
        here: plain text, shown in place of the decision buttons."""
        if self.policy is None or not self.request.is_pending:
            return None
        found = refusal(self.policy, self.request, self.reader)
        return found.text if found else None

    @property
    def rules(self) -> str | None:
        """ "Comment required · No self-approval · Undo 10 s", while a decision is to make."""
        if self.policy is None or not self.request.is_pending:
            return None
        return rules_line(self.policy)

    @property
    def fields(self) -> dict[str, object]:
        """The request's fields this card may show: all, but in a channel whose workflow's
        policy lists some (or none)."""
        if self.policy is None or not self.in_channel:
            return dict(self.request.fields)
        return channel_fields(self.policy, self.request.fields)

    @property
    def shows_comments(self) -> bool:
        """Decision comments and rejection reasons: hidden in a channel under `none`."""
        return not self.in_channel or self.policy is None or channel_sees_reasons(self.policy)


def matches(decision: Decision, stage: Stage) -> bool:
    """Decisions name a stage by id or by name, as Cflow's `currentStage` does."""
    ref = decision.stage
    if not ref:
        return False
    return ref == stage.id or ref.casefold() == (stage.name or "").casefold()


def latest(
    decisions: Iterable[Decision], actions: Iterable[str], stage: Stage | None = None
) -> Decision | None:
    """The newest decision of one of `actions` (at `stage`, when given)."""
    wanted = set(actions)
    found = [d for d in decisions if d.action in wanted and (stage is None or matches(d, stage))]
    return max(found, key=lambda d: aware(d.at), default=None)


def by_line(decision: Decision) -> str:
    return f" by {person(decision.cflow_username)}" if decision.cflow_username else ""
