"""Everything the benchmark starts, and the one place that stops it all.

Every subprocess and every mount is registered with a ``Reaper`` the moment it
exists; ``Reaper.cleanup`` (run in a ``finally`` and on SIGTERM) unmounts each
mountpoint with ``fusermount3 -u -z`` and kills each process, so a run leaves
nothing behind however it ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.servers import S3_ENV

PY = sys.executable
FUSERMOUNT = shutil.which("fusermount3") or shutil.which("fusermount") or "fusermount3"


def base_env(home: Path) -> dict[str, str]:
    """An environment that holds only the fake loopback credentials."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TCFS_", "TRACECRAFT_"))
    }
    env.update(S3_ENV)
    env["AWS_EC2_METADATA_DISABLED"] = "true"  # never look beyond loopback for credentials
    env["AWS_CONFIG_FILE"] = str(home / "aws-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(home / "aws-credentials")
    env["TCFS_HOME"] = str(home / "tcfs")
    env["TCFS_CONFIG"] = str(home / "tcfs" / "config.json")
    env["HOME"] = str(home)
    return env


def unmount(path: Path) -> None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            [FUSERMOUNT, "-u", "-z", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=15,
        )


def stop_process(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)


def stop_all(procs: list[subprocess.Popen[Any]], grace: float = 3.0) -> None:
    """SIGTERM all, wait up to ``grace`` in total, SIGKILL the rest."""
    live = [p for p in procs if p.poll() is None]
    for p in live:
        with contextlib.suppress(OSError):
            p.terminate()
    deadline = time.monotonic() + grace
    for p in live:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
    for p in live:
        if p.poll() is None:
            with contextlib.suppress(OSError):
                p.kill()
    for p in live:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=grace)


def abort_fuse(path: Path) -> None:
    """Abort the FUSE connection behind ``path`` (ours), failing its pending requests.

    The device number comes from /proc/self/mountinfo, so the mount itself is
    never touched (a stat of a hung mount would hang)."""
    target = str(path)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4 and fields[4] == target:
                    minor = fields[2].split(":")[1]
                    Path(f"/sys/fs/fuse/connections/{minor}/abort").write_text("1")
    except OSError:
        pass


class Reaper:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[Any]] = []
        self.mounts: list[Path] = []

    def spawn(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(argv, **kwargs)
        self.procs.append(proc)
        return proc

    def forget(self, proc: subprocess.Popen[Any]) -> None:
        stop_process(proc)
        if proc in self.procs:
            self.procs.remove(proc)

    def cleanup(self) -> None:
        # Readers blocked in a FUSE request cannot die until their daemon answers
        # or goes away, so: abort and unmount every mount, then signal every
        # process at once, and only then wait.
        for m in reversed(self.mounts):
            abort_fuse(m)
            unmount(m)
        self.mounts.clear()
        stop_all(self.procs)
        self.procs.clear()


def wait_until(cond: Any, timeout: float, interval: float = 0.02) -> bool:
    """Poll ``cond()`` until true or ``timeout`` seconds pass; whether it became true."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if cond():
                return True
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def rss_kb(pid: int) -> int | None:
    """Resident set size of a process, from /proc/<pid>/status."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None
