"""``tcfs status`` lists your mounts only; ``--all`` adds other users', labelled as theirs.

The kernel's table (``/proc/self/mountinfo``) lists every user's FUSE mounts;
a mount's ``user_id=`` option says who made it.  The last test makes a real
mount as another user (root only: it drops to ``nobody``).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcfs import registry
from tests.support.machine import FUSERMOUNT

REPO = Path(__file__).resolve().parent.parent

MOUNTINFO = (
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "47 22 0:42 / /home/ann/mnt rw,nosuid,nodev,relatime shared:9 - fuse.tcfs tcfs "
    "rw,user_id=1000,group_id=1000,default_permissions\n"
    "48 22 0:43 / /srv/my\\040mount rw,nosuid - fuse.tcfs tcfs rw,user_id=0,group_id=0\n"
)


def test_mountinfo_says_who_mounted_each_fuse_mount() -> None:
    mounts = registry.parse_mountinfo(MOUNTINFO)
    assert mounts == [
        registry.KernelMount("/", "ext4", None),
        registry.KernelMount("/home/ann/mnt", "fuse.tcfs", 1000),
        registry.KernelMount("/srv/my mount", "fuse.tcfs", 0),
    ]


def status(home: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "tcfs", "status", *args],
        env={**os.environ, "TCFS_HOME": str(home), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def test_a_recorded_mount_is_listed_as_yours(tmp_path: Path, tcfs_home: Path) -> None:
    registry.write_record(
        registry.MountRecord(
            pid=2**22 + 1,  # above the largest pid_max: no process has it
            mountpoint=str(tmp_path / "mnt"),
            project="proj",
            agent="ann",
            backend="local",
            bucket=str(tmp_path / "bucket"),
            endpoint=None,
            started_at=time.time(),
        )
    )
    rows = json.loads(status(tcfs_home, "--json"))
    row = next(r for r in rows if r["mountpoint"] == str(tmp_path / "mnt"))
    assert row["health"] == "dead" and row["owner_uid"] == os.getuid()
    assert all(r["owner_uid"] == os.getuid() for r in rows)  # without --all, only yours
    assert f"{tmp_path / 'mnt'}  project=proj agent=ann backend=local" in status(tcfs_home)


OTHER_USER = "nobody"


def _as_other_user(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``tcfs`` as another user; it keeps only the right to read this checkout and
    interpreter (which may sit under root's private home)."""
    return subprocess.run(
        [
            "setpriv",
            f"--reuid={OTHER_USER}",
            f"--regid={pwd.getpwnam(OTHER_USER).pw_gid}",
            "--clear-groups",
            "--inh-caps=+dac_read_search",
            "--ambient-caps=+dac_read_search",
            "env",
            f"HOME={home}",
            f"TCFS_HOME={home}",
            f"TCFS_CONFIG={home}/config.json",
            f"PYTHONPATH={REPO}",
            sys.executable,
            "-m",
            "tcfs",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def other_users_mount() -> Iterator[str]:
    """A real tcfs mount made by another user; unmounted however the test ends."""
    if os.getuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to mount as another user")
    root = Path(tempfile.mkdtemp(prefix="tcfs-other-user-"))  # outside root's private tmp
    user = pwd.getpwnam(OTHER_USER)
    for sub in ("home", "bucket", "mnt"):
        (root / sub).mkdir()
        os.chown(root / sub, user.pw_uid, user.pw_gid)
    root.chmod(0o755)
    mountpoint = str(root / "mnt")
    try:
        proc = _as_other_user(
            root / "home",
            *("mount", "--backend", "local", "--bucket", str(root / "bucket")),
            *("--project", "proj", "--agent", "other", mountpoint),
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        yield mountpoint
    finally:
        _as_other_user(root / "home", "umount", mountpoint)
        if registry.is_mounted(mountpoint) and FUSERMOUNT:
            subprocess.run([FUSERMOUNT, "-u", "-z", mountpoint], timeout=20, check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.mount
def test_another_users_mount_is_theirs_not_stale(other_users_mount: str, tcfs_home: Path) -> None:
    assert other_users_mount not in status(tcfs_home)
    assert other_users_mount not in status(tcfs_home, "--json")

    shown = status(tcfs_home, "--all")
    user = pwd.getpwnam(OTHER_USER)
    line = next(ln for ln in shown.splitlines() if ln.startswith(other_users_mount))
    assert line == f"{other_users_mount}  another user's mount ({OTHER_USER}, uid {user.pw_uid})"
    rows = json.loads(status(tcfs_home, "--all", "--json"))
    row = next(r for r in rows if r["mountpoint"] == other_users_mount)
    assert row["owner_uid"] == user.pw_uid and "stale" not in row["health"]
