"""tcfs mounts and mirrors as subprocesses the benchmark owns.

A mount runs ``python -m tcfs mount MNT --foreground`` so its daemon is our
child: its pid gives RSS and a target for the profiler, and the reaper stops it.
``TCFS_BENCH_FUSE=mfusepy`` mounts through the mfusepy binding instead of pyfuse3.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import (
    PY,
    Reaper,
    base_env,
    rss_kb,
    stop_all,
    stop_process,
    unmount,
    wait_until,
)


def is_mounted(path: Path) -> bool:
    target = str(path)
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == target for line in f if len(line.split()) > 1)


def responsive(path: Path, timeout: float = 15.0) -> bool:
    """Whether ``ls`` of the mount's root answers in time (run in a child we can abandon)."""
    try:
        return (
            subprocess.run(
                ["ls", str(path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout,
            ).returncode
            == 0
        )
    except subprocess.TimeoutExpired:
        return False


@dataclass
class Backend:
    """Where a mount's bucket lives: ``s3`` (through the counting proxy) or ``local``."""

    kind: str  # "s3" | "local"
    bucket: str  # bucket name (s3) or absolute directory (local)
    project: str = "bench"
    endpoint: str | None = None  # the proxy, for s3

    def args(self) -> list[str]:
        a = ["--backend", self.kind, "--bucket", self.bucket, "--project", self.project]
        if self.endpoint:
            a += ["--endpoint", self.endpoint]
        return a


@dataclass
class Mount:
    reaper: Reaper
    root: Path  # scratch directory of the run
    backend: Backend
    agent: str
    lease_ttl: float = 60.0
    wait_timeout: float = 120.0
    path: Path = field(init=False)
    proc: subprocess.Popen[bytes] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        tag = f"{self.backend.kind}-{Path(self.backend.bucket).name}-{self.agent}"
        self.path = self.root / "mnt" / tag
        self.home = self.root / "home" / tag
        self.log = self.root / "logs" / f"mount-{tag}.log"

    def spawn(self) -> Mount:
        for d in (self.path, self.home, self.log.parent):
            d.mkdir(parents=True, exist_ok=True)
        argv = [PY, "-m", "tcfs", "mount", str(self.path), "--foreground"]
        argv += self.backend.args()
        argv += ["--agent", self.agent, "--lease-ttl", f"{self.lease_ttl:g}"]
        argv += ["--wait-timeout", f"{self.wait_timeout:g}"]
        argv += ["--fuse", os.environ.get("TCFS_BENCH_FUSE", "pyfuse3")]  # or mfusepy
        with open(self.log, "ab") as log:
            self.proc = self.reaper.spawn(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=base_env(self.home),
                cwd=self.home,  # no .tracecraft.json here: settings come from flags
            )
        self.reaper.mounts.append(self.path)
        return self

    def ready(self, timeout: float = 30.0) -> Mount:
        proc = self.proc
        assert proc is not None
        # /proc/mounts, not stat(): a stat on a mount whose daemon hangs would hang us too.
        up = wait_until(lambda: is_mounted(self.path) or proc.poll() is not None, timeout)
        if not up or not is_mounted(self.path):
            self.stop()
            raise RuntimeError(f"mount {self.path} did not come up: {self.log_tail()}")
        if not responsive(self.path):
            self.stop()
            raise RuntimeError(f"mount {self.path} does not answer `ls`: {self.log_tail()}")
        return self

    def start(self, timeout: float = 30.0) -> Mount:
        return self.spawn().ready(timeout)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def rss_kb(self) -> int | None:
        return rss_kb(self.pid) if self.pid else None

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        unmount(self.path)
        if self.path in self.reaper.mounts:
            self.reaper.mounts.remove(self.path)
        if self.proc is not None:
            stop_process(self.proc)
            if self.proc in self.reaper.procs:
                self.reaper.procs.remove(self.proc)

    def __enter__(self) -> Mount:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_mounts(mounts: list[Mount]) -> None:
    """Start many mounts at once (their start-ups overlap)."""
    for m in mounts:
        m.spawn()
    for m in mounts:
        m.ready()


def stop_mounts(mounts: list[Mount]) -> None:
    """Stop many mounts at once: unmount each, then stop every daemon in parallel."""
    for m in mounts:
        unmount(m.path)
        if m.path in m.reaper.mounts:
            m.reaper.mounts.remove(m.path)
    procs = [m.proc for m in mounts if m.proc is not None]
    stop_all(procs)
    for m in mounts:
        if m.proc is not None and m.proc in m.reaper.procs:
            m.reaper.procs.remove(m.proc)


@dataclass
class Mirror:
    """``python -m tcfs mirror --follow --harness claude-code`` over a fake home."""

    reaper: Reaper
    root: Path
    backend: Backend
    agent: str
    home: Path  # HOME holding ~/.claude/projects/<enc>/<session>.jsonl
    cwd: Path  # the project directory the session belongs to
    interval: float = 1.0  # the mirror's default
    proc: subprocess.Popen[bytes] | None = field(init=False, default=None)

    def start(self) -> Mirror:
        log = self.root / "logs" / f"mirror-{Path(self.backend.bucket).name}-{self.agent}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        env = base_env(self.home)
        env["CLAUDE_CONFIG_DIR"] = str(self.home / ".claude")
        argv = [PY, "-m", "tcfs", "mirror", "--follow", "--harness", "claude-code"]
        argv += ["--interval", f"{self.interval:g}", *self.backend.args(), "--agent", self.agent]
        self.log = log
        with open(log, "ab") as f:
            self.proc = self.reaper.spawn(
                argv, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=self.cwd
            )
        return self

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is not None:
            self.reaper.forget(self.proc)


def claude_session(home: Path, cwd: Path, session_id: str) -> Path:
    """Where Claude Code keeps the transcript of a session started in ``cwd``."""
    enc = "".join(c if c.isalnum() and c.isascii() else "-" for c in str(cwd.resolve()))
    d = home / ".claude" / "projects" / enc
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{session_id}.jsonl"
