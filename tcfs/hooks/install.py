"""Install, remove and report tcfs's hooks in a harness's own configuration."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

from tcfs.hooks import hookfile, pluginfile, yamlblock
from tcfs.hooks.harness import Harness


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


def _store(harness: Harness) -> ModuleType:
    """The module that edits this harness's kind of settings file."""
    return yamlblock if harness.config == "yaml" else hookfile


def install(harness: Harness, mountpoint: str, *, user: bool) -> tuple[Path, bool]:
    path = harness.config_path(user=user)
    changed: bool
    if harness.config == "plugin":
        assert harness.plugin is not None, f"{harness.name}: a plugin harness renders its file"
        body = harness.plugin({e: command(harness, e, mountpoint) for e in harness.events})
        changed = pluginfile.install(path, harness.name, mountpoint, body)
    else:
        commands = {name: command(harness, e, mountpoint) for e, name in harness.events.items()}
        handlers = {
            name: hookfile.matching(harness.handler(cmd), harness.matchers.get(name))
            for name, cmd in commands.items()
        }
        changed = _store(harness).install(path, harness.name, handlers)
    if harness.consent is not None:
        harness.consent(path, True)
    return path, changed


def uninstall(harness: Harness, *, user: bool) -> tuple[Path, bool]:
    path = harness.config_path(user=user)
    changed: bool
    if harness.config == "plugin":
        changed = pluginfile.uninstall(path, harness.name)
    else:
        changed = _store(harness).uninstall(path, harness.name)
    if harness.consent is not None:
        harness.consent(path, False)
    return path, changed


def _mount_of(cmd: str) -> str:
    try:
        argv = shlex.split(cmd)
    except ValueError:
        return "?"
    return argv[argv.index("--mount") + 1] if "--mount" in argv[:-1] else "?"


def status(harness: Harness, *, user: bool) -> Installed:
    """What is installed in one scope (``SettingsError`` if the file is malformed)."""
    path = harness.config_path(user=user)
    if harness.config == "plugin":  # the whole file is tcfs's: every event, one mount
        mount = pluginfile.find(path, harness.name)
        return Installed(
            path, list(harness.events.values()) if mount else [], [mount] if mount else []
        )
    found: list[hookfile.Found] = _store(harness).find(path, harness.name)
    mounts = sorted({_mount_of(f.command) for f in found})
    return Installed(path, [f.event for f in found], mounts)
