"""Every command's ``--help`` works and says what an option left out comes to."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tcfs.cli import COMMANDS


def help_of(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tcfs", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_help(name: str) -> None:
    r = help_of(name)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"Usage: tcfs {name}"), r.stdout


def test_hook_help_shows_how_a_harness_calls_it() -> None:
    r = help_of("hook")
    assert r.returncode == 0, r.stderr
    assert "HARNESS {session-start,prompt,stop} --mount MOUNTPOINT" in r.stdout


def test_mount_help_shows_the_defaults() -> None:
    text = " ".join(help_of("mount").stdout.split())  # unwrapped
    for option, default in (
        ("--backend", "local"),
        ("--project", "the working directory's name"),
        ("--agent", "your user name"),
        ("--lease-ttl", "60"),
        ("--wait-timeout", "300"),
        ("--sweep", "60"),
    ):
        after = text.split(f"{option} ", 1)[1]
        shown = after.split("[default: ", 1)[1].split("]", 1)[0]
        assert shown.strip("()") == default, (option, shown)
