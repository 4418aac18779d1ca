"""Settings for every ``tcfs`` command, from one resolution order.

Flags first, then ``TCFS_*`` environment variables (``TRACECRAFT_AGENT`` for the
agent id), then a ``.tracecraft.json`` in the working directory (the peer CLI's
config), then ``tcfs init``'s config file, then defaults.  Each option is one
``Option`` declaration: the common ones here, each backend's in the store's
registry (``tcfs.store.BACKENDS``), which resolves them all.  Secrets are only
ever read here; a file that holds one is written with mode 0600.  This module
imports nothing of tcfs above it: every hook and command loads it.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcfs import names
from tcfs.errors import ConfigError, InvalidName

#: how often blocked readers look without a doorbell: bounds how late a message
#: or a completion written by the ``tracecraft`` CLI is seen (``--sweep``)
SWEEP_S = 60.0


def tcfs_home() -> Path:
    env = os.environ.get("TCFS_HOME")
    if env:
        return Path(env).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "tcfs"


def config_path() -> Path:
    env = os.environ.get("TCFS_CONFIG")
    if env:
        return Path(env).expanduser()
    cfg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(cfg) / "tcfs" / "config.json"


def runtime_dir() -> Path:
    """Where mount records and daemon logs live (private to the user)."""
    d = tcfs_home() / "run"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def boolean(v: object) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {v!r}")


@dataclass(frozen=True)
class Option:
    """One setting and every place ``resolve`` looks for it, declared once next
    to what uses it (the common ones here, each backend's in the store's
    registry): the command-line flag, the environment read, the config file's
    key, the ``.tracecraft.json`` key and what a child process is handed all
    derive from it."""

    name: str  # its key in ``Settings``, the config file and the command's parameters
    flag: str | None = None  # "--a/--no-a" for a boolean; a secret has none
    env: tuple[str, ...] = ()  # the first one set wins
    peer: str | None = None  # its key in ``.tracecraft.json``
    default: Any = None
    secret: bool = False  # never a flag, never shown, only in a 0600 file
    parse: Callable[[Any], Any] = str
    #: the value as logs and ``ps`` may show it, where that differs from the value
    public: Callable[[Any], Any] | None = None
    help: str = ""
    show_default: str | None = None  # for ``--help``, where the default is not a value

    def shown(self, value: Any) -> Any:
        """The value as it may be printed."""
        if self.secret:
            return "***"
        return self.public(value) if self.public is not None else value

    def as_flag(self, value: Any) -> list[str]:
        """The flag giving ``value`` (a float in full, so a child reads it back exactly)."""
        assert self.flag is not None
        if self.parse is boolean:
            yes, no = self.flag.split("/")
            return [yes if value else no]
        return [self.flag, repr(value) if isinstance(value, float) else str(value)]


#: the options every command shares, whatever the backend
BACKEND = Option(
    "backend",
    "--backend",
    ("TCFS_BACKEND",),
    peer="backend",
    default="local",
    help="where the bucket is",
)
BUCKET = Option(
    "bucket",
    "--bucket",
    ("TCFS_BUCKET",),
    peer="bucket",
    default="",
    help="bucket name; for local, a directory",
    show_default="for local, $TCFS_HOME/bucket",
)
PROJECT = Option(
    "project",
    "--project",
    ("TCFS_PROJECT",),
    peer="project",
    default="",  # resolve() names it after the working directory
    help="project inside the bucket",
    show_default="the working directory's name",
)
AGENT = Option(
    "agent",
    "--agent",
    ("TCFS_AGENT", "TRACECRAFT_AGENT"),
    peer="agent_id",
    default="",
    help="this agent's id",
    show_default="your user name",
)
#: the options of the commands that serve as an agent (``mount``; ``init`` saves them)
LEASE_TTL = Option(
    "lease_ttl",
    "--lease-ttl",
    ("TCFS_LEASE_TTL",),
    default=60.0,
    parse=float,
    help="lease length in seconds (renewed while mounted)",
)
WAIT_TIMEOUT = Option(
    "wait_timeout",
    "--wait-timeout",
    ("TCFS_WAIT_TIMEOUT",),
    default=300.0,
    parse=float,
    help="seconds steps/<id>/wait and inbox/next block",
)
SWEEP = Option(
    "sweep",
    "--sweep",
    ("TCFS_SWEEP",),
    default=SWEEP_S,
    parse=float,
    help="seconds between blocked readers' looks without a doorbell: how late a message or "
    "completion written by the tracecraft CLI is seen",
)
MOUNT_OPTIONS = (LEASE_TTL, WAIT_TIMEOUT, SWEEP)
COMMON_OPTIONS = (BACKEND, BUCKET, PROJECT, AGENT, *MOUNT_OPTIONS)
_COMMON = {o.name for o in COMMON_OPTIONS}


@dataclass
class Settings:
    """The resolved options: the common ones as attributes, a backend's by ``get``."""

    backend: str
    bucket: str
    project: str
    agent: str
    lease_ttl: float
    wait_timeout: float
    sweep: float
    #: the backends' own options, by name (secrets among them: never in a repr)
    options: dict[str, Any] = field(default_factory=dict, repr=False)
    #: every option these settings were resolved from
    declared: tuple[Option, ...] = field(default=COMMON_OPTIONS, repr=False)

    def get(self, name: str) -> Any:
        """A backend's option, None when unset."""
        return self.options.get(name)

    def value(self, option: Option) -> Any:
        return getattr(self, option.name) if option.name in _COMMON else self.get(option.name)

    def secrets(self) -> dict[str, Any]:
        """The secrets that are set, by option name."""
        return {o.name: v for o in self.declared if o.secret and (v := self.value(o))}

    def for_child(self, leave_out: Sequence[Option] = ()) -> tuple[list[str], dict[str, str]]:
        """These settings for a child ``tcfs`` process: as flags what may be
        shown (every user's ``ps`` shows a process's arguments), the rest (the
        secrets, an endpoint with a password in it) in its environment, which
        only its user can read; ``leave_out`` options the child does not take."""
        flags: list[str] = []
        env: dict[str, str] = {}
        for option in self.declared:
            value = None if option in leave_out else self.value(option)
            if value is None or value == "":
                continue
            if option.flag and option.shown(value) == value:
                flags += option.as_flag(value)
            elif option.env:
                env[option.env[0]] = str(value)
        return flags, env

    def bucket_path(self) -> Path:
        """The local backend's bucket directory."""
        p = Path(self.bucket).expanduser()
        return p if p.is_absolute() or "/" in self.bucket else tcfs_home() / self.bucket


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} is not a JSON object")
    return data


def _default_project() -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path.cwd().name).strip("-._") or "default"
    return name[:128]


def _default_agent() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "agent"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", user).strip("-._") or "agent"


def _from_env(declared: Iterable[Option]) -> dict[str, str]:
    found: dict[str, str] = {}
    for option in declared:
        value = next((os.environ[v] for v in option.env if os.environ.get(v)), None)
        if value is not None:
            found[option.name] = value
    return found


def _parsed(option: Option, value: Any) -> Any:
    try:
        return None if value is None else option.parse(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{option.name} is not valid: {exc}") from exc


def resolve(
    declared: Sequence[Option] = COMMON_OPTIONS, *, saved: bool = True, **flags: Any
) -> Settings:
    """Settings from flags (``None`` = not given), env, config files, defaults,
    for the ``declared`` options (the store's registry adds the backends');
    ``saved=False`` leaves out ``tcfs init``'s file (``init --reset``)."""
    known = {o.name for o in declared}
    if unknown := set(flags) - known:
        raise TypeError(f"undeclared options: {', '.join(sorted(unknown))}")
    peer = _load_json(Path.cwd() / ".tracecraft.json")
    own = saved_config() if saved else {}
    layers = (
        {k: v for k, v in flags.items() if v is not None},
        _from_env(declared),
        {o.name: peer[o.peer] for o in declared if o.peer and peer.get(o.peer)},
        {k: v for k, v in own.items() if k in known and v is not None},
    )
    merged: dict[str, Any] = {}
    for layer in reversed(layers):
        merged.update(layer)
    values = {o.name: _parsed(o, merged.get(o.name, o.default)) for o in declared}
    common = {o.name: values.pop(o.name) for o in COMMON_OPTIONS}
    s = Settings(**common, options=values, declared=tuple(declared))
    if not 1 <= s.sweep <= 3600:
        raise ConfigError("the sweep period must be between 1 and 3600 seconds")
    if s.lease_ttl < 5:
        raise ConfigError("lease ttl must be at least 5 seconds")
    if s.wait_timeout <= 0:
        raise ConfigError("wait timeout must be positive")
    if not s.project:
        s.project = _default_project()
    if not s.agent:
        s.agent = _default_agent()
    try:
        names.agent_id(s.agent)
        names.project_name(s.project)
    except InvalidName as exc:
        raise ConfigError(str(exc)) from exc
    return s


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data``, readable by this user only.

    Mode 0600 from the first byte (and forced, should a stale temporary file
    exist with another mode), synced before the rename: config files, mount
    records and mirror state all go through here.
    """
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def saved_config() -> dict[str, Any]:
    """What ``tcfs init`` wrote, or ``{}`` before it ran."""
    return _load_json(config_path())


def write_config(values: dict[str, Any], path: Path | None = None) -> Path:
    """Write ``tcfs init``'s config file, mode 0600 from the first byte."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    doc = {k: v for k, v in values.items() if v is not None}
    write_private(path, (json.dumps(doc, indent=2) + "\n").encode())
    return path
