"""Install, remove and report tcfs's hooks in a harness's own configuration."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

from tcfs.hooks import grants, hookfile, pluginfile, yamlblock
from tcfs.hooks.harness import Harness


class Installed(NamedTuple):
    path: Path
    events: list[str]  # the harness's event names that call tcfs
    mounts: list[str]  # the mountpoints those calls read
    granted: list[str]  # what the harness's settings allow for the mount (``grants``)


class Done(NamedTuple):
    """What one install or uninstall did."""

    path: Path  # the hook settings file
    changed: bool  # the hooks in it changed
    granted: list[str]  # access and trust made (install) or taken back (uninstall)


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


def _owner(harness: Harness, path: Path, kind: str = "access") -> str:
    """Whose grants these are in tcfs's record: a harness in one scope."""
    return f"{harness.name} {kind} {path}"


def install(
    harness: Harness, mountpoint: str, *, user: bool, trust: bool = False, cwd: Path | None = None
) -> Done:
    """The hooks, the mount's access in the harness's settings and, with
    ``trust``, the project's trust.  Grants come first: a settings file they
    create is then theirs to remove again at uninstall, hooks and all."""
    path = harness.config_path(user=user, cwd=cwd)
    # a settings file tcfs will not edit is refused before anything is written
    (pluginfile if harness.config == "plugin" else _store(harness)).find(path, harness.name)
    with hookfile.recording() as created:
        done = _install(harness, path, mountpoint, trust=trust, cwd=cwd)
    grants.remember_created(_owner(harness, path), created)
    return done


def _install(
    harness: Harness, path: Path, mountpoint: str, *, trust: bool, cwd: Path | None
) -> Done:
    granted = []
    if harness.access is not None:  # an earlier install's for another mount is taken back
        granted += grants.apply(_owner(harness, path), harness.access(path, mountpoint))
    if trust and harness.trust is not None:
        project = (cwd or Path.cwd()).resolve()
        granted += grants.apply(_owner(harness, path, "trust"), harness.trust(project))
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
    return Done(path, changed, granted)


def uninstall(harness: Harness, *, user: bool, cwd: Path | None = None) -> Done:
    """Everything ``install`` added, and nothing else: the hooks first, then
    the grants (which remove the files they created once those are empty)."""
    path = harness.config_path(user=user, cwd=cwd)
    changed: bool
    if harness.config == "plugin":
        changed = pluginfile.uninstall(path, harness.name)
    else:
        changed = _store(harness).uninstall(path, harness.name)
    if harness.consent is not None:
        harness.consent(path, False)
    taken = grants.revoke(_owner(harness, path)) + grants.revoke(_owner(harness, path, "trust"))
    grants.remove_created(_owner(harness, path))
    return Done(path, changed, taken)


def _mount_of(cmd: str) -> str:
    try:
        argv = shlex.split(cmd)
    except ValueError:
        return "?"
    return argv[argv.index("--mount") + 1] if "--mount" in argv[:-1] else "?"


def status(harness: Harness, *, user: bool) -> Installed:
    """What is installed in one scope (``SettingsError`` if the file is malformed)."""
    path = harness.config_path(user=user)
    granted = grants.granted(_owner(harness, path)) + grants.granted(_owner(harness, path, "trust"))
    if harness.config == "plugin":  # the whole file is tcfs's: every event, one mount
        mount = pluginfile.find(path, harness.name)
        events = list(harness.events.values()) if mount else []
        return Installed(path, events, [mount] if mount else [], granted)
    found: list[hookfile.Found] = _store(harness).find(path, harness.name)
    mounts = sorted({_mount_of(f.command) for f in found})
    return Installed(path, [f.event for f in found], mounts, granted)
