"""How requests, people, stages and states are named in messages (pure, escaped).

Every Cflow-originated string is escaped before it enters mrkdwn.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.blocks.primitives import MAX_TEXT, PERSON_PREVIEW
from bot.blocks.text import escaped, plain
from bot.cflow.models import DRAFT, Request, Stage, Workflow

# How much of each Cflow text a card shows: enough to decide, short enough to scan.
NAME_PREVIEW = 100


ID_PREVIEW = 40


PEOPLE_SHOWN = 5


COMMENT_PREVIEW = 1000


def request_title(request: Request, workflow: Workflow, separator: str = " ") -> str:
    """ "Purchase Order #103" as plain text (escape it for mrkdwn), bounded in length."""
    name = plain(workflow.label, NAME_PREVIEW).strip() or "Cflow request"
    return f"{name}{separator}#{plain(request.id, ID_PREVIEW).strip() or '?'}"


def bold_title(request: Request, workflow: Workflow) -> str:
    """The request's title, escaped for mrkdwn."""
    return escaped(request_title(request, workflow), MAX_TEXT)


def person(name: str) -> str:
    """A Cflow username, escaped and kept to one short line."""
    return escaped(name, PERSON_PREVIEW, single_line=True)


def people(names: Sequence[str], *, bold: bool = True) -> str:
    """ "*bob*, *carol* and 3 others": a stage may list many reviewers."""
    mark = "*" if bold else ""
    shown = [f"{mark}{person(name)}{mark}" for name in names[:PEOPLE_SHOWN]]
    rest = len(names) - len(shown)
    if rest:
        return f"{', '.join(shown)} and {rest} other{'s' if rest > 1 else ''}"
    return " and ".join([", ".join(shown[:-1]), shown[-1]]) if len(shown) > 1 else "".join(shown)


def stage_label(stage: Stage) -> str:
    return escaped(stage.label, NAME_PREVIEW, single_line=True)


def current_label(request: Request, workflow: Workflow) -> str | None:
    """The current stage's name, or Cflow's own reference when the workflow lacks it."""
    stage = workflow.find_stage(request.current_stage)
    if stage:
        return stage_label(stage)
    ref = request.current_stage
    return escaped(ref, NAME_PREVIEW, single_line=True) if ref else None


def quote(text: str, limit: int = COMMENT_PREVIEW) -> str:
    """A comment as a blockquote (escaped text holds no `>`, so each line is ours)."""
    return ">" + escaped(text, limit).replace("\n", "\n>")


def inline_quote(text: str, limit: int) -> str:
    return f"“{escaped(text, limit, single_line=True)}”"


STATE_PHRASES = {
    "approved": "was approved",
    "rejected": "was rejected",
    "completed": "was completed",
    DRAFT: "is a draft",
}


def state_phrase(status: str | None) -> str:
    return STATE_PHRASES.get(status or "") or f"is {status_word(status)}"


def status_word(status: str | None) -> str:
    return escaped(status, NAME_PREVIEW, single_line=True) if status else "in an unknown state"
