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

from tests.support.mounts import backend, mount, proxied  # noqa: F401 - fixtures for these tests


@pytest.fixture(autouse=True)
def _own_tcfs_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tcfs's record of what ``hooks install`` granted stays the test's, apart
    from the files the test looks at (a test asking for ``tcfs_home`` gets that)."""
    monkeypatch.setenv("TCFS_HOME", str(tmp_path_factory.mktemp("tcfs-home")))


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


def run_hook_in_time(harness: str, event: str, mountpoint: Path, tries: int = 3) -> HookRun:
    """``run_hook`` for a test of what a hook says, not of its bound: a call the
    hook itself cut short at its deadline ("did not answer within", the mail left
    unread for the next call, as documented) is made again, at most ``tries``
    times.  On a machine loaded past its cores the interpreter's start-up alone
    can take most of the bound; ``test_bounded.py`` tests the bound itself."""
    for _ in range(tries - 1):
        run = run_hook(harness, event, mountpoint)
        if "did not answer within" not in run.stderr:
            return run
    return run_hook(harness, event, mountpoint)


#: seconds for one turn of a harness with tcfs's hooks
TURN_S = 180.0


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


#: a hook's two steps in one process, as ``tcfs.hooks.run`` takes them: read
#: ``inbox/unread``, print it; then, on ``ack`` from stdin, acknowledge what it
#: showed; on ``hang``, go on living without acknowledging; at the end of
#: its input (the test is over), exit
HOOK = """
import json, sys, time
path = sys.argv[1]
with open(path + "/inbox/unread") as f:
    doc = json.load(f)
print(json.dumps(doc), flush=True)
word = sys.stdin.readline().strip()  # nothing (the test ended): exit
if word == "ack":
    with open(path + "/inbox/ack", "w") as f:
        f.write("".join(m["name"] + "\\n" for m in doc["unread"]))
    print("acked", flush=True)
elif word == "hang":
    time.sleep(60)
"""


class Hook:
    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOOK, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.shown: list[dict[str, object]] = json.loads(self.proc.stdout.readline())["unread"]

    def tell(self, word: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()
        if word == "ack":
            assert self.proc.stdout.readline() == "acked\n"
            assert self.proc.wait(timeout=10) == 0

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
