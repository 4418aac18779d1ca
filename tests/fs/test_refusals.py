"""Why the mount said no, readable without the daemon's log: each refusal's
reason is in the mount's never-listed ``why`` file and in ``tcfs status``,
and the daemon logs a user's refused input at INFO (it is not the mount's
error)."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys

import pytest

from tcfs.errors import (
    AccessDenied,
    BackendUnavailable,
    ClaimTaken,
    CorruptObject,
    Exists,
    InvalidArgument,
    InvalidName,
    NotHolder,
    NotOnAMount,
    ReadOnly,
    StoreError,
    TcfsError,
    TooLarge,
)
from tests.support.mounts import Backend, Mount, eventually, sh

pytestmark = pytest.mark.mount


def status(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "tcfs", "status", *args],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def refused(m: Mount, cmd: str, errno_word: str, reason: str) -> None:
    """``cmd`` (run in the mount) fails with the errno's word in the shell,
    and its reason can be read on the mount, in ``tcfs status`` and in the
    daemon's log at INFO."""
    out = sh(f"cd {m.path} && {cmd}")
    assert out.returncode != 0 and errno_word in out.stderr, (cmd, out)
    assert reason not in out.stderr  # the shell has the one word only
    why = (m / "why").read_text()
    assert re.search(rf"{errno_word_to_code(errno_word)}: .*{re.escape(reason)}", why), why
    assert eventually(lambda: reason in status(), timeout=10), status()
    logged = [ln for ln in m.log_text().splitlines() if reason in ln]
    assert logged and all(" INFO " in ln for ln in logged), logged


def errno_word_to_code(word: str) -> str:
    return {
        "Invalid argument": "EINVAL",
        "File too large": "EFBIG",
        "File exists": "EEXIST",
        "Permission denied": "EACCES",
    }[word]


@pytest.mark.mount
def test_each_refusal_leaves_its_reason_on_the_mount_and_in_status(mount, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    a, b = mount("alice"), mount("bob")
    assert (a / "why").read_text().startswith("no refusals")
    assert sh(f"echo me > {a / 'steps/s1/claim'}").returncode == 0

    refused(a, "echo x > memory/a.b", "Invalid argument", "memory key part 'a.b' contains '.'")
    refused(
        a,
        "echo bogus > steps/s1/status",
        "Invalid argument",
        "write one of in_progress, complete, blocked, needs_review",
    )
    refused(
        a,
        "dd if=/dev/zero of=memory/notes/big bs=2000000 count=1 status=none",
        "File too large",
        "a memory value is limited to 1048576 bytes",
    )
    refused(b, "echo me > steps/s1/claim", "File exists", "step s1 is already claimed by alice")
    refused(b, "echo x > README", "Permission denied", "README is read-only")

    # never listed (ls, find and grep -r do not read it), and read-only
    assert "why" not in sh(f"ls -a {a.path}").stdout
    assert sh(f"echo x > {a / 'why'}").returncode != 0
    # status --json keeps each mount's own refusals with its row
    rows = {r["mountpoint"]: r for r in json.loads(status("--json"))}
    mine = [r["reason"] for r in rows[str(a.path)]["refusals"]]
    assert any("limited to 1048576 bytes" in r for r in mine), mine
    assert not any("claimed by alice" in r for r in mine), mine
    assert any("claimed by alice" in r["reason"] for r in rows[str(b.path)]["refusals"])


@pytest.mark.parametrize(
    "cls",
    [InvalidName, InvalidArgument, TooLarge, ClaimTaken, NotHolder, ReadOnly, NotOnAMount, Exists],
)
def test_a_users_refused_input_is_logged_at_info(cls: type[TcfsError]) -> None:
    assert cls.level == logging.INFO


@pytest.mark.parametrize("cls", [AccessDenied, BackendUnavailable, StoreError, CorruptObject])
def test_a_failing_store_is_logged_at_warning_or_above(cls: type[TcfsError]) -> None:
    assert cls.level >= logging.WARNING
