"""PURE: who may see and who may decide what, the one rule every entry point asks.

Cflow is the authority; the bot never lets a person see or do more through Slack than
Cflow would show or let them. What the bot read with its service account reaches a
person only where they take part in the request (a reviewer of its current stage, or
its submitter), or when they are one of the bot's admins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.cflow.models import Request, Workflow
from bot.domain.refs import RequestRef, updated_mark
from bot.store.records import StageVisit, Subscription, TrackedRequest, WorkflowRoute


def same_user(left: str | None, right: str | None) -> bool:
    """Cflow usernames as Cflow compares them: trimmed, in any case."""
    return bool(left and right and left.strip().casefold() == right.strip().casefold())


def among(name: str | None, names: Iterable[str]) -> bool:
    return any(same_user(name, other) for other in names)


def takes_part(name: str, workflow: Workflow, request: Request) -> bool:
    """Whether the Cflow user `name` reviews the request's current stage or submitted it."""
    return among(name, request.reviewers(workflow)) or same_user(name, request.submitted_by)


def waiting_on(
    name: str, listed: Iterable[tuple[Workflow, Request]]
) -> list[tuple[Workflow, Request]]:
    """The pending requests whose current stage `name` reviews."""
    return [(w, r) for w, r in listed if r.is_pending and among(name, r.reviewers(w))]


def submitted_by(
    name: str, listed: Iterable[tuple[Workflow, Request]]
) -> list[tuple[Workflow, Request]]:
    return [(w, r) for w, r in listed if same_user(name, r.submitted_by)]


def visible_part(
    name: str, listed: Iterable[tuple[Workflow, Request]]
) -> list[tuple[Workflow, Request]]:
    """What of a service-account listing may be shown to the Cflow user `name`."""
    return [(w, r) for w, r in listed if takes_part(name, w, r)]


def plainly_not_a_reviewer(name: str, ref: RequestRef, known: TrackedRequest | None) -> bool:
    """True only when the bot's record of exactly the state the click saw names the
    stage's reviewers and `name` is not among them. Anything less certain (no record, a
    record of another state, an empty list) goes to Cflow, which decides."""
    if known is None or not known.reviewers or known.status != "pending":
        return False
    if ref.stage is not None and known.stage != ref.stage:
        return False
    if ref.updated is not None and ref.updated != updated_mark(known.updated_at):
        return False
    return not among(name, known.reviewers)


def visits_of(name: str, visits: Iterable[StageVisit]) -> list[StageVisit]:
    """The stage visits the Cflow user `name` took part in (reviewer or submitter)."""
    return [v for v in visits if among(name, v.reviewers) or same_user(name, v.submitted_by)]


def channel_for(
    workflow_id: str,
    subscriptions: Mapping[str, Subscription],
    routes: Mapping[str, WorkflowRoute],
    default_channel: str | None,
) -> str | None:
    """The channel a workflow's cards go to: only where an admin routed it. A workflow
    the bot has no route for, or one still waiting for an admin's choice, goes to none."""
    if workflow_id in subscriptions:
        return subscriptions[workflow_id].channel_id
    route = routes.get(workflow_id)
    return default_channel if route is not None and route.route == "default" else None
