"""Running the mirror in tests: the harnesses' own environment variables, the
folders of a test (``Homes``), one pass or the CLI, and what the bucket holds."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tcfs.mirror.redact import Redactor
from tcfs.mirror.runner import Runner
from tcfs.protocol.sessions import SessionReader
from tcfs.store.base import Store

HARNESS_ENV = (
    "CLAUDE_CONFIG_DIR",
    "CODEX_HOME",
    "OPENCLAW_STATE_DIR",
    "MOLTBOT_STATE_DIR",
    "CLAWDBOT_STATE_DIR",
    "HERMES_HOME",
    "GEMINI_CLI_HOME",
    "XDG_DATA_HOME",
)


@dataclass
class Homes:
    home: Path  # $HOME for the harnesses
    project: Path  # the cwd the agents ran in
    bucket: Path  # the local backend's bucket directory
    state: Path  # the mirror's state directory


def mirror_once(store: Store, harness: str, cwd: Path, **kw: object) -> int:
    runner = Runner(store, [harness], cwd=cwd, echo=lambda _m: None, **kw)  # type: ignore[arg-type]
    n = runner.run_once()
    assert not runner.failed, runner._errors
    return n


def transcript(store: Store, harness: str, session_id: str) -> bytes:
    reader = SessionReader(store)
    parts = reader.parts(harness, session_id)
    return reader.read(parts, 0, sum(p.size for p in parts))


def expected(raw: bytes) -> bytes:
    """What the bucket must hold for source bytes ``raw``: its whole lines, redacted."""
    whole = raw[: raw.rfind(b"\n") + 1]
    return Redactor().redact(whole)[0]


def tcfs_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tcfs", "mirror", *args]


def run_mirror(
    args: list[str], cwd: Path, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tcfs_cmd(*args),
        cwd=cwd,
        env=dict(os.environ) if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
