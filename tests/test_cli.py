"""The command line as a person runs it: a real process, its output and exit status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.settings import HINTS


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in HINTS}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_settings_are_named_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 2
    for name in ("CFLOW_API_KEY", "CFLOW_USERNAME", "CFLOW_USER_KEY", "SLACK_BOT_TOKEN"):
        assert name in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_malformed_setting_from_env_file_is_named(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CFLOW_POLL_INTERVAL=-1\nSLACK_BOT_TOKEN=secret-token\n")
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 2
    assert "CFLOW_POLL_INTERVAL" in result.stderr and "SLACK_BOT_TOKEN" in result.stderr
    assert "secret-token" not in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "sandbox" in result.stdout and "check" in result.stdout
