"""Install, remove and report tcfs's hooks in a harness's own configuration."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import NamedTuple

from tcfs.hooks import hookfile
from tcfs.hooks.harness import EVENTS, Harness


class Installed(NamedTuple):
    path: Path
    events: list[str]  # the harness's event names that call tcfs
    mounts: list[str]  # the mountpoints those calls read


def command(harness: Harness, event: str, mountpoint: str) -> str:
    """The shell command the harness runs: this interpreter on the lean entry
    point's file, isolated (``-I``: no user site, no ``PYTHON*`` variables) and
    without site packages (``-S``), which a hook does not need and whose scan
    is most of an interpreter's start-up; not the ``tcfs`` CLI."""
    main = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__main__.py")
    argv = [sys.executable, "-I", "-S", main, harness.name, event, "--mount", mountpoint]
    return " ".join(shlex.quote(a) for a in argv)


def install(harness: Harness, mountpoint: str, *, user: bool) -> tuple[Path, bool]:
    path = harness.config_path(user=user)
    handlers = {harness.events[e]: harness.handler(command(harness, e, mountpoint)) for e in EVENTS}
    return path, hookfile.install(path, harness.name, handlers)


def uninstall(harness: Harness, *, user: bool) -> tuple[Path, bool]:
    path = harness.config_path(user=user)
    return path, hookfile.uninstall(path, harness.name)


def _mount_of(cmd: str) -> str:
    try:
        argv = shlex.split(cmd)
    except ValueError:
        return "?"
    return argv[argv.index("--mount") + 1] if "--mount" in argv[:-1] else "?"


def status(harness: Harness, *, user: bool) -> Installed:
    """What is installed in one scope (``SettingsError`` if the file is malformed)."""
    path = harness.config_path(user=user)
    found = hookfile.find(path, harness.name)
    mounts = sorted({_mount_of(f.command) for f in found})
    return Installed(path, [f.event for f in found], mounts)
