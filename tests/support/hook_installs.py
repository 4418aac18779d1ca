"""``tcfs hooks`` run as a user runs it, and the check that it refused a file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def tcfs(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tcfs", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def refused(cwd: Path, harness: str, path: Path, text: str) -> None:
    """Install and uninstall both refuse ``path`` with a clear error and leave it as it was."""
    for args in (("install", harness, "--mount", "/mnt/a"), ("uninstall", harness)):
        out = tcfs(cwd, "hooks", *args)
        assert out.returncode == 1, out
        assert str(path) in out.stderr and "nothing was changed" in out.stderr, out.stderr
        assert path.read_text() == text
