"""What an admin asked of `/cflow policy`, and what it makes of a policy (pure).

`parse_policy()` reads the words after `/cflow policy` into a `PolicyCommand`: the
workflow as typed (its name may have spaces: it runs up to the first setting keyword),
and the setting to change, or None to show the policy. Anything it cannot read raises
`PolicyUsageError`, whose text is the usage, and nothing else. `applied()` gives the
new policy, `shown()` each setting's value as the show form and the change log write it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, get_args

from bot.cflow.models import Request, Workflow
from bot.domain.errors import AnswerError
from bot.domain.policy import MAX_UNDO_SECONDS, OPS, as_number
from bot.store.records import CommentRule, SelfApproval, WebOnlyOp, WorkflowPolicy

# mrkdwn: `<` and `>` are written as entities, or Slack would read `<workflow>` as markup.
POLICY_USAGE = "\n".join(
    (
        "`/cflow policy &lt;workflow&gt;` — show it, with who changed what and when (admins)",
        "`/cflow policy &lt;workflow&gt; comment reject|approve|both|off`",
        "`/cflow policy &lt;workflow&gt; self-approval allow|block`",
        "`/cflow policy &lt;workflow&gt; web-only &lt;field&gt; &lt;op&gt; &lt;number&gt;`"
        " (op: &gt; &gt;= &lt; &lt;= =), or `web-only off`",
        f"`/cflow policy &lt;workflow&gt; undo &lt;seconds 0-{MAX_UNDO_SECONDS}&gt;`",
        "`/cflow policy &lt;workflow&gt; channel-fields &lt;field1, field2, …&gt; | all | none`",
    )
)
SETTINGS: Final = ("comment", "self-approval", "web-only", "undo", "channel-fields")
MAX_NUMBER = 32  # characters of a web-only number (the store keeps 64)
MAX_FIELD_NAME = 200
MAX_CHANNEL_FIELDS = 50
WEB_ONLY = re.compile(r"(?P<field>.+?)\s*(?P<op>>=|<=|>|<|=)\s*(?P<number>\S+)", re.DOTALL)
# Plain decimals only: "1e999999" is a finite Decimal, but one that would be written out
# in full wherever the reason is shown.
NUMBER = re.compile(r"[+-]?(?=[.0-9])[0-9]*(?:[,_][0-9]+)*(?:\.[0-9]+)?")
SECONDS = re.compile(r"([0-9]{1,3})(?:s|sec|secs|seconds?)?")


class PolicyUsageError(AnswerError):
    """Words `/cflow policy` cannot read: the answer is its usage, and nothing changes."""

    def __init__(self, hint: str = "") -> None:
        super().__init__(f"{hint}\n{POLICY_USAGE}" if hint else POLICY_USAGE)


@dataclass(frozen=True)
class Comment:
    rule: CommentRule


@dataclass(frozen=True)
class SelfApprovalRule:
    rule: SelfApproval


@dataclass(frozen=True)
class WebOnly:
    """`field op number`; all None for `web-only off`."""

    field: str | None = None
    op: WebOnlyOp | None = None
    number: str | None = None


@dataclass(frozen=True)
class Undo:
    seconds: int


@dataclass(frozen=True)
class ChannelFields:
    """None: every field (`all`); (): none."""

    names: tuple[str, ...] | None


Edit = Comment | SelfApprovalRule | WebOnly | Undo | ChannelFields


@dataclass(frozen=True)
class PolicyCommand:
    workflow: str
    edit: Edit | None = None  # None: show the policy


def setting_of(edit: Edit) -> str:
    """The setting's word, as typed and as the change log names it."""
    return {
        Comment: "comment",
        SelfApprovalRule: "self-approval",
        WebOnly: "web-only",
        Undo: "undo",
        ChannelFields: "channel-fields",
    }[type(edit)]


# Reading the words


def parse_policy(words: Sequence[str]) -> PolicyCommand:
    """The workflow, then a setting keyword and its words; raises PolicyUsageError only."""
    words = [w.strip() for w in words if w.strip()]
    at = next((i for i, w in enumerate(words) if i and _keyword(w) in SETTINGS), len(words))
    if at == 0:
        raise PolicyUsageError()
    name = " ".join(words[:at])
    if at == len(words):
        return PolicyCommand(name)
    return PolicyCommand(name, _edit(_keyword(words[at]), words[at + 1 :]))


def _keyword(word: str) -> str:
    return word.lower().replace("_", "-")


def _edit(setting: str, rest: Sequence[str]) -> Edit:
    text = " ".join(rest).strip()
    if setting == "comment":
        return Comment(_one_of(text, get_args(CommentRule)))
    if setting == "self-approval":
        return SelfApprovalRule(_one_of(text, get_args(SelfApproval)))
    if setting == "web-only":
        return _web_only(text)
    if setting == "undo":
        return Undo(_seconds(text))
    return _channel_fields(text)


def _one_of(text: str, choices: tuple[Any, ...]) -> Any:
    """The choice typed (any case); the choices are a Literal's."""
    found = next((c for c in choices if c == text.lower()), None)
    if found is None:
        raise PolicyUsageError()
    return found


def _web_only(text: str) -> WebOnly:
    if text.lower() == "off":
        return WebOnly()
    match = WEB_ONLY.fullmatch(text)
    if not match:
        raise PolicyUsageError()
    field, op, number = match["field"].strip(), match["op"], match["number"]
    if not field or len(field) > MAX_FIELD_NAME or op not in OPS:
        raise PolicyUsageError()
    if len(number) > MAX_NUMBER or not NUMBER.fullmatch(number) or as_number(number) is None:
        raise PolicyUsageError("The limit must be a number, like 10000 or 10,000.50.")
    return WebOnly(field, _op(op), number)


def _op(word: str) -> WebOnlyOp:
    return next(op for op in get_args(WebOnlyOp) if op == word)


def _seconds(text: str) -> int:
    if text.lower() in ("off", "none"):
        return 0
    match = SECONDS.fullmatch(text.replace(" ", "").lower())
    if not match or int(match[1]) > MAX_UNDO_SECONDS:
        raise PolicyUsageError(
            f"The undo window is a whole number of seconds, 0 to {MAX_UNDO_SECONDS}."
        )
    return int(match[1])


def _channel_fields(text: str) -> ChannelFields:
    if text.lower() == "all":
        return ChannelFields(None)
    if text.lower() == "none":
        return ChannelFields(())
    names = _unique(name.strip() for name in text.split(","))
    if not names or len(names) > MAX_CHANNEL_FIELDS:
        raise PolicyUsageError()
    if any(len(name) > MAX_FIELD_NAME for name in names):
        raise PolicyUsageError()
    return ChannelFields(tuple(names))


def _unique(names: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for name in names:
        if name:
            seen.setdefault(name.casefold(), name)
    return list(seen.values())


# The workflow's fields


def fields_named(edit: Edit | None) -> tuple[str, ...]:
    """The field names an edit uses, to be found among the workflow's."""
    if isinstance(edit, WebOnly) and edit.field:
        return (edit.field,)
    if isinstance(edit, ChannelFields) and edit.names:
        return edit.names
    return ()


def workflow_fields(workflow: Workflow, requests: Iterable[Request]) -> list[str]:
    """The workflow's field names as Cflow spells them: its required fields (where Cflow
    sends them), then every name its requests use, most used first. Cflow's API has no
    form definition, so a workflow with no requests yet may show none."""
    required = (workflow.model_extra or {}).get("requiredFields") or []
    names = [str(name) for name in required if isinstance(name, str)]
    counts = Counter(str(name) for request in requests for name in request.fields)
    names += [name for name, _ in counts.most_common()]
    return _unique(names)


def spelled_as(names: Iterable[str], known: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Each name as the workflow spells it (found ignoring case), and the names not found."""
    by_fold = {name.casefold(): name for name in reversed(known)}
    found = {name: by_fold[name.casefold()] for name in names if name.casefold() in by_fold}
    return found, [name for name in names if name not in found]


# Applying an edit, and showing a setting


def applied(policy: WorkflowPolicy, edit: Edit, spelling: Mapping[str, str]) -> WorkflowPolicy:
    """The policy with `edit` made; field names as `spelling` has them (else as typed)."""
    if isinstance(edit, Comment):
        return replace(policy, comment=edit.rule)
    if isinstance(edit, SelfApprovalRule):
        return replace(policy, self_approval=edit.rule)
    if isinstance(edit, WebOnly):
        field = spelling.get(edit.field, edit.field) if edit.field else None
        return replace(
            policy, web_only_field=field, web_only_op=edit.op, web_only_value=edit.number
        )
    if isinstance(edit, Undo):
        return replace(policy, undo_seconds=edit.seconds)
    names = None if edit.names is None else tuple(spelling.get(n, n) for n in edit.names)
    return replace(policy, channel_fields=names)


def shown(policy: WorkflowPolicy, setting: str) -> str:
    """A setting's value in words: "both", "Amount > 10,000", "10 s", "Amount, Vendor"
    (plain text, from Cflow in part: the caller escapes it)."""
    if setting == "comment":
        return policy.comment
    if setting == "self-approval":
        return policy.self_approval
    if setting == "web-only":
        if not (policy.web_only_field and policy.web_only_op and policy.web_only_value):
            return "off"
        return f"{policy.web_only_field} {policy.web_only_op} {policy.web_only_value}"
    if setting == "undo":
        return f"{policy.undo_seconds} s" if policy.undo_seconds else "off"
    if policy.channel_fields is None:
        return "all"
    return ", ".join(policy.channel_fields) or "none"


def is_default(policy: WorkflowPolicy, setting: str) -> bool:
    return shown(policy, setting) == shown(WorkflowPolicy(policy.workflow_id), setting)
