"""Settings for every ``tcfs`` command, from one resolution order.

Flags first, then ``TCFS_*`` environment variables (``TRACECRAFT_AGENT`` for the
agent id), then a ``.tracecraft.json`` in the working directory (the peer CLI's
config), then ``tcfs init``'s config file, then defaults.  Secrets are only ever
read here; a file that holds one is written with mode 0600.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tcfs import names
from tcfs.errors import ConfigError, InvalidName
from tcfs.protocol.waiting import SWEEP_S
from tcfs.store import BACKENDS as STORES

BACKENDS = tuple(STORES)
SECRET_FIELDS = ("access_key", "secret_key", "hf_token")


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


@dataclass
class Settings:
    backend: str = "local"
    bucket: str = ""
    project: str = ""  # empty: resolve() names it after the working directory
    agent: str = ""
    endpoint: str | None = None
    region: str | None = None
    path_style: bool | None = None  # None: path-style when an endpoint is given
    lease_ttl: float = 60.0
    wait_timeout: float = 300.0
    #: how often blocked readers look without a doorbell (senders on the CLI ring none)
    sweep: float = SWEEP_S
    # secrets: only from the environment, the AWS chain, or a 0600 file
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    hf_token: str | None = field(default=None, repr=False)

    def backend_flags(self) -> list[str]:
        """The backend options as command-line flags, for a child tcfs process
        (secrets are never flags: they go in its environment)."""
        out: list[str] = []
        for flag, value in (
            ("--backend", self.backend),
            ("--bucket", self.bucket),
            ("--project", self.project),
            ("--agent", self.agent),
            ("--endpoint", self.endpoint),
            ("--region", self.region),
        ):
            if value:
                out += [flag, str(value)]
        if self.path_style is not None:
            out.append("--path-style" if self.path_style else "--virtual-host-style")
        return out

    def bucket_path(self) -> Path:
        """The local backend's bucket directory."""
        p = Path(self.bucket).expanduser()
        return p if p.is_absolute() or "/" in self.bucket else tcfs_home() / self.bucket


_ENV = {
    "backend": "TCFS_BACKEND",
    "bucket": "TCFS_BUCKET",
    "project": "TCFS_PROJECT",
    "agent": "TCFS_AGENT",
    "endpoint": "TCFS_ENDPOINT",
    "region": "TCFS_REGION",
    "path_style": "TCFS_PATH_STYLE",
    "lease_ttl": "TCFS_LEASE_TTL",
    "wait_timeout": "TCFS_WAIT_TIMEOUT",
    "sweep": "TCFS_SWEEP",
}

# .tracecraft.json field -> Settings field
_PEER_FIELDS = {
    "backend": "backend",
    "bucket": "bucket",
    "project": "project",
    "agent_id": "agent",
    "endpoint": "endpoint",
    "access_key": "access_key",
    "secret_key": "secret_key",
    "hf_token": "hf_token",
}


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


def _bool(v: object) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"not a boolean: {v!r}")


def _default_project() -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path.cwd().name).strip("-._") or "default"
    return name[:128]


def _default_agent() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "agent"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", user).strip("-._") or "agent"


def resolve(*, saved: bool = True, **flags: Any) -> Settings:
    """Settings from flags (``None`` = not given), env, config files, defaults;
    ``saved=False`` leaves out ``tcfs init``'s file (``init --reset``)."""
    layers: list[dict[str, Any]] = []
    layers.append({k: v for k, v in flags.items() if v is not None})

    env: dict[str, Any] = {k: os.environ[v] for k, v in _ENV.items() if os.environ.get(v)}
    if "agent" not in env and os.environ.get("TRACECRAFT_AGENT"):
        env["agent"] = os.environ["TRACECRAFT_AGENT"]
    for k, v in (
        ("access_key", "AWS_ACCESS_KEY_ID"),
        ("secret_key", "AWS_SECRET_ACCESS_KEY"),
        ("hf_token", "HF_TOKEN"),
    ):
        if os.environ.get(v):
            env[k] = os.environ[v]
    layers.append(env)

    peer = _load_json(Path.cwd() / ".tracecraft.json")
    layers.append({ours: peer[theirs] for theirs, ours in _PEER_FIELDS.items() if peer.get(theirs)})

    own = saved_config() if saved else {}
    known = {f.name for f in fields(Settings)}
    layers.append({k: v for k, v in own.items() if k in known and v is not None})

    merged: dict[str, Any] = {}
    for layer in reversed(layers):
        merged.update(layer)

    s = Settings()
    for f in fields(Settings):
        if f.name in merged:
            setattr(s, f.name, merged[f.name])
    try:
        s.lease_ttl = float(s.lease_ttl)
        s.wait_timeout = float(s.wait_timeout)
        s.sweep = float(s.sweep)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"lease_ttl, wait_timeout and sweep must be numbers: {exc}") from exc
    if not 1 <= s.sweep <= 3600:
        raise ConfigError("the sweep period must be between 1 and 3600 seconds")
    if s.lease_ttl < 5:
        raise ConfigError("lease ttl must be at least 5 seconds")
    if s.wait_timeout <= 0:
        raise ConfigError("wait timeout must be positive")
    if s.path_style is not None:
        s.path_style = _bool(s.path_style)
    if s.backend not in BACKENDS:
        raise ConfigError(f"unknown backend {s.backend!r}: choose one of {', '.join(BACKENDS)}")
    if not s.project:
        s.project = _default_project()
    if not s.agent:
        s.agent = _default_agent()
    if not s.bucket:
        if s.backend == "local":
            s.bucket = str(tcfs_home() / "bucket")
        else:
            raise ConfigError(f"--bucket (or TCFS_BUCKET) is required for the {s.backend} backend")
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
