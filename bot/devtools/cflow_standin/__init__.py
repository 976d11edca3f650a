"""A stateful, in-memory Cflow stand-in served over real HTTP, for demos and tests."""

from bot.devtools.cflow_standin.records import CallRecord, SandboxError, SandboxRequest
from bot.devtools.cflow_standin.seed import demo_state, describe_credentials
from bot.devtools.cflow_standin.server import (
    SANDBOX_STATE,
    create_sandbox_app,
    run_sandbox,
    start_sandbox,
)
from bot.devtools.cflow_standin.state import SandboxState

__all__ = [
    "SANDBOX_STATE",
    "CallRecord",
    "SandboxError",
    "SandboxRequest",
    "SandboxState",
    "create_sandbox_app",
    "demo_state",
    "describe_credentials",
    "run_sandbox",
    "start_sandbox",
]
