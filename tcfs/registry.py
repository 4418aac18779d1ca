"""This machine's mounts: records under ``runtime_dir()/mounts`` and the kernel's table.

A record is written by the daemon once it is mounted and removed when it
exits cleanly; it holds no secret and is private to the user (mode 0600).
Next to it the daemon publishes its state (``<record>.state``): its last
refusals with their reasons, and what stopped it, for ``tcfs status``.
``tcfs status`` and ``tcfs umount`` combine it with ``/proc/self/mountinfo``
(never a ``stat`` of the mountpoint, which hangs or fails on a dead daemon).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tcfs import config

FSTYPE = "fuse.tcfs"


@dataclass
class MountRecord:
    pid: int
    mountpoint: str
    project: str
    agent: str
    backend: str
    bucket: str
    endpoint: str | None
    started_at: float
    log: str | None = None
    mirror_pid: int | None = None
    #: seconds this machine's clock was ahead of the store's when it mounted
    clock_skew_s: float | None = None
    #: the FUSE binding serving it (``tcfs mount --fuse``)
    fuse: str | None = None

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> MountRecord:
        """A record read back; ``ValueError`` or ``TypeError`` if it is not one."""

        def text(name: str) -> str | None:
            value = doc.get(name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"mount record field {name!r} is not text")
            return value

        def required(name: str) -> str:
            value = text(name)
            if value is None:
                raise ValueError(f"mount record has no {name!r}")
            return value

        def number(name: str) -> float:
            value = doc.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"mount record field {name!r} is not a number")
            return value

        mirror_pid = doc.get("mirror_pid")
        skew = doc.get("clock_skew_s")
        return cls(
            pid=int(number("pid")),
            mountpoint=required("mountpoint"),
            project=required("project"),
            agent=required("agent"),
            backend=required("backend"),
            bucket=required("bucket"),
            endpoint=text("endpoint"),
            started_at=number("started_at"),
            log=text("log"),
            mirror_pid=None if mirror_pid is None else int(number("mirror_pid")),
            clock_skew_s=None if skew is None else number("clock_skew_s"),
            fuse=text("fuse"),
        )


def records_dir() -> Path:
    d = config.runtime_dir() / "mounts"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def canonical(mountpoint: str) -> str:
    """The mountpoint's absolute path, resolving links in its parent only.

    Never ``realpath`` the mountpoint itself: that ``stat``s it, which blocks on
    a dead daemon and deadlocks the daemon that asks about its own mount.
    """
    path = os.path.abspath(mountpoint)
    parent, name = os.path.split(path)
    return os.path.join(os.path.realpath(parent), name) if name else path


def record_path(mountpoint: str) -> Path:
    digest = hashlib.sha1(canonical(mountpoint).encode()).hexdigest()[:16]
    return records_dir() / f"{digest}.json"


def state_path(mountpoint: str) -> Path:
    return record_path(mountpoint).with_suffix(".state")


def write_state(mountpoint: str, state: dict[str, Any]) -> None:
    config.write_private(state_path(mountpoint), json.dumps(state, indent=2).encode())


def read_state(mountpoint: str) -> dict[str, Any]:
    """The daemon's published state; empty if there is none (or it is unreadable)."""
    try:
        doc = json.loads(state_path(mountpoint).read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def write_record(rec: MountRecord) -> Path:
    path = record_path(rec.mountpoint)
    config.write_private(path, json.dumps(asdict(rec), indent=2).encode())
    return path


def read_record(mountpoint: str) -> MountRecord | None:
    try:
        return MountRecord.from_json(json.loads(record_path(mountpoint).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def remove_record(mountpoint: str, pid: int | None = None) -> None:
    """Remove the record (only if it still belongs to ``pid``, when given)."""
    rec = read_record(mountpoint)
    if pid is not None and rec is not None and rec.pid != pid:
        return
    for path in (record_path(mountpoint), state_path(mountpoint)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def all_records() -> list[MountRecord]:
    out = []
    for p in sorted(records_dir().glob("*.json")):
        try:
            out.append(MountRecord.from_json(json.loads(p.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return out


# ----- the kernel's mount table -----


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class KernelMount:
    mountpoint: str
    fstype: str
    #: who mounted it (FUSE's ``user_id=`` option); None for other filesystems
    owner_uid: int | None


def parse_mountinfo(text: str) -> list[KernelMount]:
    """The mounts a ``/proc/<pid>/mountinfo`` text lists, in its order."""
    mounts = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, after = left.split(), right.split()
        if len(fields) < 5 or not after:
            continue
        options = after[2].split(",") if len(after) > 2 else []
        uid = next((o.removeprefix("user_id=") for o in options if o.startswith("user_id=")), "")
        owner = int(uid) if uid.isdigit() else None
        mounts.append(KernelMount(_unescape(fields[4]), after[0], owner))
    return mounts


def kernel_mounts() -> list[KernelMount]:
    if sys.platform == "darwin":  # no /proc: mount(8)
        return _bsd_mounts()
    try:
        return parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    except OSError:
        return []


def mount_table() -> dict[str, str]:
    """mountpoint -> filesystem type, from /proc/self/mountinfo."""
    return {m.mountpoint: m.fstype for m in kernel_mounts()}


def _bsd_mounts() -> list[KernelMount]:
    try:
        out = subprocess.run(
            ["/sbin/mount"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return parse_bsd_mounts(out)


def parse_bsd_mounts(text: str) -> list[KernelMount]:
    """mount(8)'s lines on macOS (``tcfs@macfuse0 on /Users/a/mnt (macfuse, nodev,
    ...)``) as a mount table; a mount whose source is tcfs's (``fsname=tcfs``)
    is given tcfs's filesystem type, whatever FUSE implementation serves it."""
    mounts = []
    for line in text.splitlines():
        source, sep, rest = line.partition(" on ")
        mountpoint, paren, options = rest.rpartition(" (")
        if not sep or not paren:
            continue
        fstype = options.split(",")[0].rstrip(")").strip()
        tcfs = source.split("@")[0] == "tcfs"
        mounts.append(KernelMount(mountpoint, FSTYPE if tcfs else fstype, None))
    return mounts


def is_mounted(mountpoint: str) -> bool:
    table = mount_table()
    return canonical(mountpoint) in table or os.path.abspath(mountpoint) in table


def tcfs_mounts() -> list[KernelMount]:
    """Every tcfs mount the kernel lists, whoever mounted it."""
    return [m for m in kernel_mounts() if m.fstype == FSTYPE]


# ----- processes -----


def pid_alive(pid: int | None) -> bool:
    """True if ``pid`` runs and looks like a tcfs daemon (not a reused pid)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if ") Z" in stat:  # a zombie is dead
        return False
    return any(b"tcfs" in part for part in cmdline)


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def unmount_cmd(mountpoint: str, *, lazy: bool) -> list[str]:
    if sys.platform == "darwin":  # macFUSE: umount has no -l; -f detaches a busy mount
        return ["umount", *(["-f"] if lazy else []), mountpoint]
    fm = shutil.which("fusermount3") or shutil.which("fusermount")
    if fm:
        return [fm, "-u", *(["-z"] if lazy else []), mountpoint]
    return ["umount", *(["-l"] if lazy else []), mountpoint]


def unmount(mountpoint: str, *, lazy: bool, timeout: float = 20.0) -> tuple[bool, str]:
    try:
        r = subprocess.run(
            unmount_cmd(mountpoint, lazy=lazy),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return r.returncode == 0, (r.stderr or r.stdout).strip()
