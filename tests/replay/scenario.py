"""Building blocks for replay tests: a Claude Code session written now (so its
lines fall inside the project's time span), the real mirror run once, and the
real ``tcfs replay`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.support.sessions import ClaudeSession, claude_line


def _append_now(session: ClaudeSession, line: dict[str, Any]) -> None:
    line["timestamp"] = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    session.n += 1
    with open(session.path, "ab") as f:
        f.write(json.dumps(line).encode() + b"\n")


def say(session: ClaudeSession, text: str) -> None:
    """Append one user line to a Claude Code session, stamped now."""
    _append_now(session, json.loads(claude_line(session.sid, session.cwd, session.n * 2, text)))


def tool_call(session: ClaudeSession, tool: str, tool_input: dict[str, object]) -> None:
    """Append one assistant line calling ``tool`` to a Claude Code session, stamped now."""
    line = json.loads(claude_line(session.sid, session.cwd, session.n * 2 + 1))
    line["message"]["content"] = [
        {"type": "tool_use", "id": f"toolu_{session.n}", "name": tool, "input": tool_input}
    ]
    _append_now(session, line)


def run_tcfs(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "tcfs", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    assert proc.returncode == 0, f"tcfs {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def mirror_once(
    config: Path, project_dir: Path, agent: str, backend: list[str], env: dict[str, str]
) -> None:
    run_tcfs(
        "mirror",
        "--once",
        "--harness",
        "claude-code",
        "--cwd",
        str(project_dir),
        "--project",
        "proj",
        "--agent",
        agent,
        *backend,
        env={**env, "CLAUDE_CONFIG_DIR": str(config)},
    )


def replay_page(out: Path, backend: list[str], *extra: str, env: dict[str, str]) -> Path:
    printed = run_tcfs("replay", "--out", str(out), "--project", "proj", *backend, *extra, env=env)
    assert str(out) in printed
    return out
