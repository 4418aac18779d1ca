"""Fixtures for the hook tests: the real mounts of ``tests/fs`` and a runner
for one hook call, made as a harness makes it (a process, JSON on stdin)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fs.conftest import backend, mount  # noqa: F401 - fixtures for these tests
from tests.fs.test_doorbells import proxied  # noqa: F401 - requests counted at the S3 endpoint


@dataclass
class HookRun:
    seconds: float
    out: dict[str, object]
    stderr: str
    returncode: int

    @property
    def context(self) -> str:
        specific = self.out.get("hookSpecificOutput")
        return str(specific.get("additionalContext", "")) if isinstance(specific, dict) else ""


def run_hook(
    harness: str,
    event: str,
    mountpoint: Path,
    payload: dict[str, object] | None = None,
    *,
    env: dict[str, str] | None = None,
) -> HookRun:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "tcfs.hooks", harness, event, "--mount", str(mountpoint)],
        input=json.dumps(payload or {"hook_event_name": event}),
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    seconds = time.monotonic() - start
    out = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return HookRun(seconds, out, proc.stderr, proc.returncode)


def harness_turn(argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    """One non-interactive turn of a real harness program; it must succeed."""
    proc = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


@pytest.fixture
def hook() -> type[HookRun]:
    return HookRun


@pytest.fixture(autouse=True)
def _harness_homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every harness's user-level settings live in the test's directory: a test
    never touches the settings of the user running it."""
    for var, name in (
        ("CLAUDE_CONFIG_DIR", "claude-config"),
        ("CODEX_HOME", "codex-home"),
        ("GEMINI_CLI_HOME", "gemini-home"),
        ("HERMES_HOME", "hermes-home"),
        ("OPENCLAW_STATE_DIR", "openclaw-home"),
    ):
        monkeypatch.setenv(var, str(tmp_path / name))
    monkeypatch.delenv("OPENCLAW_CONFIG_PATH", raising=False)
