"""functions.* of the stand-in: custom steps run in Workflow Builder, as Slack runs them.

A test or the playground starts an execution of a function the app declares (`execute`),
as a person of the workspace runs the workflow: the stand-in fills each user_context
input with that person (`id`, and a `secret` of Slack's; a builder can set no such
input), issues the execution a token of its own and gives back the `function_executed`
event Slack would deliver, to be signed and posted to the app. The app ends it once with
`functions.completeSuccess` or `functions.completeError`, called with that token (Slack
refuses any other, the bot's own included), and Slack's errors answer everything else:
an unknown or finished execution, outputs that do not match the declared ones, a token
revoked when its execution ended (or by `revoke`) or expired (`expire`).
Sources: docs.slack.dev/reference/events/function_executed, the methods' pages, and
docs.slack.dev/reference/types/user_context-type (deno-slack-sdk's UserContextType: an
object of `id` and `secret`, both required).
"""

from __future__ import annotations

import json
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any

from bot.devtools.slack_standin.records import Params, SlackCall, StandInError
from bot.devtools.slack_standin.workspace import Workspace

# The step manifest.yml declares (tests/test_manifest.py checks the two agree): the
# playground has no YAML reader, so it is written out here too.
SEND_FOR_APPROVAL: Params = {
    "title": "Send for Cflow approval",
    "description": (
        "Creates a Cflow request as the person who runs the workflow and waits until it "
        "is approved or rejected."
    ),
    "input_parameters": {
        "workflow": {
            "type": "string",
            "title": "Cflow workflow",
            "description": "The workflow's id or name",
            "is_required": True,
        },
        "fields": {
            "type": "string",
            "title": "Fields",
            "description": "A JSON object, or one `name: value` a line",
            "is_required": True,
            "hint": "Amount: 120",
        },
        "submitter": {
            "type": "slack#/types/user_context",
            "title": "Submitted by",
            "description": "The person who runs the workflow (Workflow Builder fills it in)",
            "is_required": True,
        },
    },
    "output_parameters": {
        "request_id": {"type": "string", "title": "Request id", "is_required": True},
        "status": {
            "type": "string",
            "title": "Outcome (approved or rejected)",
            "is_required": True,
        },
        "decided_by": {"type": "string", "title": "Decided by", "is_required": True},
        "comment": {"type": "string", "title": "Comment", "is_required": True},
        "url": {"type": "string", "title": "Link to the request", "is_required": True},
    },
}
PRIMITIVES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
}
SLACK_TYPES = {"slack#/types/user_id": "U", "slack#/types/channel_id": "C"}
USER_CONTEXT = "slack#/types/user_context"
SECRET_CHARS = string.ascii_letters + string.digits  # as Slack's documented example
METHODS = frozenset({"functions.completeSuccess", "functions.completeError"})


@dataclass
class Execution:
    """One run of a function as a workflow's step."""

    id: str
    callback_id: str
    token: str
    inputs: Params
    workflow_execution_id: str
    state: str = "running"  # running | completed | failed
    token_state: str = "valid"  # valid | revoked | expired
    outputs: Params | None = None
    error: str | None = None


class Functions:
    """The app's declared functions and their executions."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace
        # The app as manifest.yml declares it; `define` adds or replaces one.
        self.definitions: dict[str, Params] = {"send_for_approval": SEND_FOR_APPROVAL}
        self.executions: dict[str, Execution] = {}

    def define(self, callback_id: str, definition: Params) -> None:
        """Declare a function as manifest.yml's `functions.<callback_id>` does."""
        self.definitions[callback_id] = definition

    def latest(self) -> Execution:
        """The execution started last."""
        return list(self.executions.values())[-1]

    def execute(self, callback_id: str, inputs: Params, *, run_by: str | None = None) -> str:
        """A workflow `run_by` a person reached this step: the event Slack sends (JSON),
        with a new token. `inputs` are what the builder set."""
        definition = self.definitions.get(callback_id)
        if definition is None:
            raise ValueError(f"the app declares no function {callback_id!r}")
        inputs = self._filled(definition["input_parameters"], inputs, run_by)
        _check_inputs(definition["input_parameters"], inputs)
        seq = self._workspace.next_seq()
        execution = Execution(
            id=f"Fx{seq:010d}",
            callback_id=callback_id,
            token=f"xwfp-{self._workspace.team_id}-{seq:06d}-{time.time_ns():x}",
            inputs=dict(inputs),
            workflow_execution_id=f"Wx{seq:010d}",
        )
        self.executions[execution.id] = execution
        return json.dumps(self._envelope(execution, definition))

    def _filled(self, declared: Params, inputs: Params, run_by: str | None) -> Params:
        """Workflow Builder shows no field for a user_context input: Slack fills it from
        the person who ran the workflow (without one, the workflow cannot be published)."""
        filled = dict(inputs)
        for name, spec in declared.items():
            if spec.get("type") != USER_CONTEXT:
                continue
            if name in inputs:
                raise ValueError(f"[ERROR] {name} is a user_context: only Slack fills it")
            if run_by is not None:
                if run_by not in self._workspace.records.users:
                    raise ValueError(f"{run_by!r} is no person of the workspace")
                secret = "".join(secrets.choice(SECRET_CHARS) for _ in range(72))
                filled[name] = {"id": run_by, "secret": secret}
        return filled

    def revoke(self, execution_id: str) -> None:
        """Slack revoked the execution's token (an admin, an uninstall)."""
        self.executions[execution_id].token_state = "revoked"

    def expire(self, execution_id: str) -> None:
        """The execution's short-lived token ran out."""
        self.executions[execution_id].token_state = "expired"

    # -- methods -------------------------------------------------------------------------

    def answer(self, call: SlackCall) -> Params:
        """functions.completeSuccess / completeError, called with `call.token`."""
        caller = self._caller(call.token)
        params = call.params
        execution_id = params.get("function_execution_id")
        if not execution_id:
            raise StandInError(
                "invalid_arguments", ["[ERROR] missing required field: function_execution_id"]
            )
        execution = self.executions.get(str(execution_id))
        if execution is None:
            raise StandInError("function_execution_not_found")
        if caller is not execution:
            raise StandInError("access_denied")
        if execution.state != "running":
            raise StandInError("execution_not_in_running_state")
        if call.method == "functions.completeSuccess":
            outputs = self._outputs(execution, params.get("outputs"))
            execution.state, execution.outputs = "completed", outputs
        else:
            error = params.get("error")
            if not isinstance(error, str) or not error.strip():
                raise StandInError("invalid_arguments", ["[ERROR] missing required field: error"])
            execution.state, execution.error = "failed", error
        execution.token_state = "revoked"  # a step's token ends with its step
        return {}

    def _caller(self, token: str | None) -> Execution | None:
        """The execution whose token this is (None: the bot's own token)."""
        if token == self._workspace.bot_token:
            return None
        found = next((e for e in self.executions.values() if e.token == token), None)
        if found is None:
            raise StandInError("invalid_auth")
        if found.token_state == "revoked":
            raise StandInError("token_revoked")
        if found.token_state == "expired":
            raise StandInError("token_expired")
        return found

    def _outputs(self, execution: Execution, given: Any) -> Params:
        if isinstance(given, str):
            try:
                given = json.loads(given)
            except ValueError:
                raise StandInError("invalid_arguments", ["[ERROR] outputs is not JSON"]) from None
        if not isinstance(given, dict):
            raise StandInError("invalid_arguments", ["[ERROR] missing required field: outputs"])
        declared = self.definitions[execution.callback_id]["output_parameters"]
        problems = _mismatches(declared, given)
        if problems:
            raise StandInError("parameter_validation_failed", problems)
        return given

    def _envelope(self, execution: Execution, definition: Params) -> Params:
        """The Events API request Slack sends when a workflow runs the step."""
        workspace, now = self._workspace, int(time.time())
        function = {
            "id": f"Fn{abs(hash(execution.callback_id)) % 10**10:010d}",
            "callback_id": execution.callback_id,
            "title": definition["title"],
            "description": definition.get("description", ""),
            "type": "app",
            "input_parameters": _listed(definition["input_parameters"]),
            "output_parameters": _listed(definition["output_parameters"]),
            "app_id": workspace.app_id,
            "date_created": now,
            "date_updated": now,
            "date_deleted": 0,
        }
        event = {
            "type": "function_executed",
            "function": function,
            "inputs": execution.inputs,
            "function_execution_id": execution.id,
            "workflow_execution_id": execution.workflow_execution_id,
            "event_ts": f"{time.time():.6f}",
            "bot_access_token": execution.token,
        }
        return {
            "token": "legacy-verification-token",
            "team_id": workspace.team_id,
            "api_app_id": workspace.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{execution.id[2:]}",
            "event_time": now,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": workspace.team_id,
                    "user_id": workspace.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }


def _listed(parameters: Params) -> list[Params]:
    """The manifest's map of parameters, as the event lists them (each with its name)."""
    return [{"name": name, **spec} for name, spec in parameters.items()]


def _check_inputs(declared: Params, inputs: Params) -> None:
    """Workflow Builder runs a step only with its required inputs, of their types."""
    problems = _mismatches(declared, inputs)
    if problems:
        raise ValueError("; ".join(problems))


def _mismatches(declared: Params, given: Params) -> list[str]:
    """What Slack says of values that do not fit the declared parameters."""
    problems = [
        f"[ERROR] {name} is required"
        for name, spec in declared.items()
        if spec.get("is_required") and given.get(name) is None
    ]
    problems += [
        f"[ERROR] {name} is not a declared parameter" for name in given if name not in declared
    ]
    for name, value in given.items():
        kind = (declared.get(name) or {}).get("type")
        if value is not None and kind is not None and not _fits(kind, value):
            problems.append(f"[ERROR] {name} must be of type {kind}")
    return problems


def _fits(kind: str, value: Any) -> bool:
    if kind == USER_CONTEXT:
        return (
            isinstance(value, dict)
            and _fits("slack#/types/user_id", value.get("id"))
            and isinstance(value.get("secret"), str)
            and bool(value["secret"])
        )
    if kind in PRIMITIVES:
        return isinstance(value, PRIMITIVES[kind]) and not (
            kind != "boolean" and isinstance(value, bool)
        )
    prefix = SLACK_TYPES.get(kind)
    if prefix is not None:
        return isinstance(value, str) and value[:1] in (prefix, "W" if prefix == "U" else prefix)
    return True
