"""`/cflow policy`: each workflow's decision policy, shown and changed by admins.

What each setting means is bot.domain.policy's; the words are read by
bot.domain.policy_edits, and the answers written by bot.blocks.policy_text. Every form
is for admins only, showing included: the change log names who changed what.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.blocks.policy_text import (
    changed_text,
    policy_message,
    unchanged_text,
    unknown_fields_text,
)
from bot.cflow import Credentials, Workflow
from bot.domain.errors import AnswerError
from bot.domain.policy import policy_of
from bot.domain.policy_edits import (
    Edit,
    applied,
    fields_named,
    parse_policy,
    setting_of,
    shown,
    spelled_as,
    workflow_fields,
)
from bot.inbound.subcommands import TOO_FAST, CommandContext, admins_only, find_workflow
from bot.store.records import PolicyChange, WorkflowPolicy

UNCHECKED = (
    " (Cflow shows no field of this workflow yet, as it has no requests: the name is kept"
    " as you typed it.)"
)


async def policy(ctx: CommandContext) -> None:
    admins_only(ctx, "see or change a workflow's policy")
    asked = parse_policy(ctx.text.args)
    # Counted here, not with the reading commands: words it cannot read cost nothing.
    if not ctx.tools.person_limits.allow(ctx.user):
        raise AnswerError(TOO_FAST)
    creds = await ctx.creds()
    workflow = await find_workflow(ctx, creds, asked.workflow)
    store = ctx.tools.store
    current = policy_of(await store.policies_for([workflow.id]), workflow.id)
    if asked.edit is None:
        changes = await store.policy_changes(workflow.id)
        await ctx.say(policy_message(workflow.label, current, changes))
        return
    spelling, note = await _spelling(ctx, creds, workflow, fields_named(asked.edit))
    await ctx.say({"text": await _change(ctx, workflow, current, asked.edit, spelling) + note})


async def _change(
    ctx: CommandContext,
    workflow: Workflow,
    current: WorkflowPolicy,
    edit: Edit,
    spelling: dict[str, str],
) -> str:
    """Save the edit with its line in the change log; the answer."""
    setting = setting_of(edit)
    new = applied(current, edit, spelling)
    if shown(new, setting) == shown(current, setting):
        return unchanged_text(workflow.label, new, setting)
    now = ctx.tools.clock()
    new = replace(new, updated_by=ctx.user, updated_at=now)
    change = PolicyChange(workflow.id, setting, shown(new, setting), changed_by=ctx.user, at=now)
    await ctx.tools.store.save_policy(new, [change])
    return changed_text(workflow.label, new, setting)


async def _spelling(
    ctx: CommandContext, creds: Credentials, workflow: Workflow, names: Sequence[str]
) -> tuple[dict[str, str], str]:
    """The field names as the workflow spells them, read with the admin's own key; an
    AnswerError listing its fields when one is not among them. A workflow whose fields
    Cflow does not show (no requests yet) keeps the names as typed, and says so."""
    if not names:
        return {}, ""
    requests = await ctx.tools.cflow.list_requests(creds, workflow.id)
    known = workflow_fields(workflow, requests)
    if not known:
        return {}, UNCHECKED
    found, unknown = spelled_as(names, known)
    if unknown:
        raise AnswerError(unknown_fields_text(workflow.label, unknown, known))
    return found, ""
