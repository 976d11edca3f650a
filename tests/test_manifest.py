"""The Slack app manifest (manifest.yml) and the Procfile.

manifest.yml is validated against Slack's official manifest JSON Schema
(github.com/slackapi/manifest-schema). The schema is not part of this repository: a copy
lives in ../shared/slack-manifest-schema next to the clone, and the schema test is skipped
where that folder is absent, as in a user's own clone. The other checks need no schema.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema.validators import validator_for

from bot.blocks.steps import CALLBACK_ID, FIELDS, OUTPUTS, SUBMITTER, WORKFLOW
from bot.devtools.slack_standin.functions import SEND_FOR_APPROVAL
from bot.devtools.slack_standin.payloads import manifest_escapes
from bot.domain.request_links import link_host
from bot.runtime.oauth import BOT_SCOPES

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "manifest.yml"
PROCFILE = REPO / "Procfile"
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "shared" / "slack-manifest-schema"

EXPECTED_BOT_SCOPES = {
    "chat:write",  # post request cards to channels and DMs, and update them
    "commands",  # the /cflow slash command
    "im:write",  # open DMs with reviewers
    "users:read",  # read Slack users ...
    "users:read.email",  # ... and their emails, to match them with Cflow users
    "channels:read",  # is the bot in this public channel?
    "groups:read",  # is the bot in this private channel?
    # After a crash between posting a card and recording it: is the card already there?
    "channels:history",
    "groups:history",
    "im:history",
    # Link previews of Cflow requests: hear of shared links, and unfurl them.
    "links:read",
    "links:write",
}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "manifest.yml must hold a mapping"
    return data


def _schema_for(manifest: dict[str, Any]) -> dict[str, Any]:
    """The schema Slack applies to this manifest, or a skip when there is no copy of it.

    Like Slack's top-level manifest.schema.json, choose by _metadata.major_version
    (absent means 1): major version N is manifest.schema.N.0.0.json.
    """
    if not SCHEMA_DIR.is_dir():
        pytest.skip(
            f"Slack's manifest JSON Schema is not available at {SCHEMA_DIR} "
            "(it sits next to the repository in the development setup, not in a clone)"
        )
    major = manifest.get("_metadata", {}).get("major_version", 1)
    path = SCHEMA_DIR / f"manifest.schema.{major}.0.0.json"
    assert path.is_file(), f"no schema for manifest major version {major}: {path} is missing"
    return json.loads(path.read_text(encoding="utf-8"))


def _validator(schema: dict[str, Any]):
    # The schema declares its draft in "$schema" (draft-07 today); use the matching class.
    cls = validator_for(schema, default=None)
    assert cls is not None, f"unknown JSON Schema draft: {schema.get('$schema')!r}"
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _errors(validator, instance: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}"
        for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    ]


def test_manifest_is_valid_against_slacks_schema(manifest: dict[str, Any]) -> None:
    validator = _validator(_schema_for(manifest))
    errors = _errors(validator, manifest)
    assert not errors, "manifest.yml does not match Slack's schema:\n" + "\n".join(errors)


def test_schema_validation_catches_mistakes(manifest: dict[str, Any]) -> None:
    """Guards the test above: a validation that let anything through would prove nothing."""
    validator = _validator(_schema_for(manifest))
    broken = copy.deepcopy(manifest)
    broken["settings"]["socket_mode"] = True  # misspelt key
    broken["features"]["slash_commands"][0]["command"] = "cflow"  # no leading slash
    del broken["features"]["bot_user"]["display_name"]  # required
    errors = _errors(validator, broken)
    assert len(errors) == 3, errors


def test_manifest_metadata(manifest: dict[str, Any]) -> None:
    assert manifest["_metadata"] == {"major_version": 1, "minor_version": 1}


def _request_urls(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every URL Slack sends requests to: request_url keys and slash commands' url."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else key
            if key in ("request_url", "url") and isinstance(value, str):
                yield here, value
            else:
                yield from _request_urls(value, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _request_urls(item, f"{path}[{i}]")


def test_every_request_url_points_at_slack_events(manifest: dict[str, Any]) -> None:
    urls = dict(_request_urls(manifest))
    assert set(urls) == {
        "features.slash_commands[0].url",
        "settings.event_subscriptions.request_url",
        "settings.interactivity.request_url",
    }
    for where, url in urls.items():
        assert url.startswith("https://"), f"{where}: {url}"
        assert url.endswith("/slack/events"), f"{where}: {url}"


def test_cflow_slash_command(manifest: dict[str, Any]) -> None:
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert set(commands) == {"/cflow"}
    cflow = commands["/cflow"]
    assert cflow["description"]
    assert cflow["usage_hint"] == "[pending | show <request> | link | help]"
    # Slack sends a chosen @person, @group and #channel as ids, which the bot reads.
    assert cflow["should_escape"] is True
    # The tests' and the playground's typing follows the manifest as YAML reads it.
    assert manifest_escapes(MANIFEST) is cflow["should_escape"]


def test_app_home_and_bot_user(manifest: dict[str, Any]) -> None:
    features = manifest["features"]
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["app_home"]["messages_tab_enabled"] is True
    assert features["bot_user"]["always_online"] is True
    assert manifest["display_information"]["name"] == "Cflow Approvals"


def test_events_and_interactivity(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert "app_home_opened" in settings["event_subscriptions"]["bot_events"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is False
    assert settings["org_deploy_enabled"] is True  # Slack requires it for custom steps
    assert settings["token_rotation_enabled"] is False


def test_the_workflow_step_is_declared_as_slack_runs_custom_steps(
    manifest: dict[str, Any],
) -> None:
    """One function, the one the bot listens for, with the inputs it reads and the
    outputs it completes with; the stand-in and the playground run the same one."""
    assert manifest["settings"]["function_runtime"] == "remote"
    functions = manifest["functions"]
    assert set(functions) == {CALLBACK_ID}
    step = functions[CALLBACK_ID]
    assert set(step["input_parameters"]) == {WORKFLOW, FIELDS, SUBMITTER}
    # Slack fills it with whoever runs the workflow: a builder cannot name someone else
    assert step["input_parameters"][SUBMITTER]["type"] == "slack#/types/user_context"
    assert step["input_parameters"][FIELDS]["type"] == "string"
    assert tuple(step["output_parameters"]) == OUTPUTS
    assert {p["type"] for p in step["output_parameters"].values()} == {"string"}
    assert step == SEND_FOR_APPROVAL
    # function_executed cannot be subscribed to: Slack sends it to the app that declares it.
    assert "function_executed" not in manifest["settings"]["event_subscriptions"]["bot_events"]


def test_schema_validation_catches_a_broken_step(manifest: dict[str, Any]) -> None:
    validator = _validator(_schema_for(manifest))
    broken = copy.deepcopy(manifest)
    step = broken["functions"][CALLBACK_ID]
    del step["title"]  # required
    del step["input_parameters"][SUBMITTER]["type"]  # required
    errors = _errors(validator, broken)
    assert len(errors) == 2, errors


def test_shared_request_links_are_unfurled(manifest: dict[str, Any]) -> None:
    """Slack sends link_shared only for links on the unfurl domains: the manifest holds a
    placeholder host, read as the bot reads CFLOW_REQUEST_URL's, which a deployment
    replaces with its own (as it does the request URLs)."""
    assert "link_shared" in manifest["settings"]["event_subscriptions"]["bot_events"]
    domains = manifest["features"]["unfurl_domains"]
    assert domains == ["cflow.example.com"]
    assert link_host("https://cflow.example.com/{workflow_id}/{request_id}") in domains


def test_scopes_are_exactly_the_minimal_set(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]
    assert set(scopes) == {"bot"}, "only bot scopes: the app acts as its bot, never as a user"
    bot = scopes["bot"]
    assert len(bot) == len(set(bot)), f"duplicate scopes: {bot}"
    assert set(bot) == EXPECTED_BOT_SCOPES


def test_an_oauth_install_asks_for_the_manifests_scopes(manifest: dict[str, Any]) -> None:
    """/slack/install (OAuth mode) asks Slack for BOT_SCOPES: exactly these, in this order."""
    assert list(BOT_SCOPES) == manifest["oauth_config"]["scopes"]["bot"]


def test_procfile_runs_the_http_server() -> None:
    assert PROCFILE.read_text(encoding="utf-8").removesuffix("\n") == "web: cflow-bot serve"
