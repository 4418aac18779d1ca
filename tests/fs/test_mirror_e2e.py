"""End to end: an agent's transcript, mirrored, followed live from another mount.

A process appends lines to a Claude Code session in its real on-disk format;
the real mirror (``tcfs mirror --follow``) copies them into the bucket; on
another agent's mount, ``tail -f sessions/claude-code/<id>.jsonl`` shows each
line, secrets redacted.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.mounts import Backend, eventually, sh
from tests.support.procs import stop
from tests.support.sessions import ClaudeSession, claude_line

pytestmark = [pytest.mark.mount, pytest.mark.slow]

SECRET = "AKIA" + "Q" * 16  # an AWS access key id shape, made up


def test_tail_f_on_another_mount_shows_each_mirrored_line(
    mount, backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "claude"
    project_dir = tmp_path / "work"
    project_dir.mkdir()
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    session = ClaudeSession(config, project_dir)
    first = session.add(2)

    bob = mount("bob")
    mirror = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tcfs",
            "mirror",
            "--follow",
            "--harness",
            "claude-code",
            "--cwd",
            str(project_dir),
            "--interval",
            "0.3",
            "--project",
            "proj",
            "--agent",
            "alice",
            *backend.args,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    target = bob / f"sessions/claude-code/{session.sid}.jsonl"
    out = tmp_path / "tail.out"
    tail = None
    try:
        assert eventually(target.exists, timeout=30), "the session never appeared on bob's mount"
        with open(out, "wb") as f:
            tail = subprocess.Popen(["tail", "-n", "+1", "-f", str(target)], stdout=f)
        assert eventually(lambda: out.read_bytes() == first, timeout=20), out.read_bytes()

        # A writer appends one line at a time; each must show up in tail -f.
        expected = first
        for i in range(2, 6):
            text = f"key {SECRET} in line {i}" if i == 4 else ""
            line = claude_line(session.sid, session.cwd, i, text)
            with open(session.path, "ab") as f:
                f.write(line)
            if i == 4:
                line = line.replace(SECRET.encode(), b"[REDACTED:aws_access_key]")
            expected += line
            assert eventually(lambda e=expected: out.read_bytes() == e, timeout=20), (
                f"line {i} not seen by tail -f: {out.read_bytes()[-300:]!r}"
            )
            time.sleep(0.2)

        # A partial last line waits until its newline arrives.
        partial = claude_line(session.sid, session.cwd, 6)
        with open(session.path, "ab") as f:
            f.write(partial[:40])
        time.sleep(1.5)
        assert out.read_bytes() == expected
        with open(session.path, "ab") as f:
            f.write(partial[40:])
        expected += partial
        assert eventually(lambda: out.read_bytes() == expected, timeout=20)
    finally:
        if tail is not None:
            tail.kill()
            tail.wait(timeout=10)
        stop(mirror, timeout=20)
    assert SECRET not in out.read_text()
    assert sh(f"cat {target}").stdout.encode() == expected
