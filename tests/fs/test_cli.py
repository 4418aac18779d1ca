"""``tcfs mount`` (background), ``status``, ``umount`` and ``init`` as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from tcfs import registry
from tests.support.machine import BIN
from tests.support.mounts import detach, sh
from tests.support.s3server import free_port

pytestmark = pytest.mark.mount

TCFS = f"{sys.executable} -m tcfs"


@pytest.mark.parametrize("fuse", ["pyfuse3", "mfusepy"])
def test_each_binding_mounts_serves_and_unmounts(
    tmp_path: Path, tcfs_home: Path, fuse: str
) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    bucket = tmp_path / "bucket"
    try:
        r = sh(f"{TCFS} mount {mnt} --bucket {bucket} --project proj --agent alice --fuse {fuse}")
        assert r.returncode == 0, r.stderr
        assert sh(f"echo hi > {mnt / 'memory/notes/greeting'}").returncode == 0
        assert sh(f"cat {mnt / 'memory/notes/greeting'}").stdout == "hi\n"
        assert (bucket / "proj").is_dir()
        rows = json.loads(sh(f"{TCFS} status --json").stdout)
        mine = [(row["fuse"], row["health"]) for row in rows if row["mountpoint"] == str(mnt)]
        assert mine == [(fuse, "alive")]
        r = sh(f"{TCFS} umount {mnt}")
        assert r.returncode == 0, r.stderr
        assert not os.path.ismount(mnt)
        rows = json.loads(sh(f"{TCFS} status --json").stdout)
        assert [row for row in rows if row["mountpoint"] == str(mnt)] == []
    finally:
        detach(mnt, None)


def test_background_mount_status_umount(tmp_path: Path, tcfs_home: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    bucket = tmp_path / "bucket"
    try:
        r = sh(f"{TCFS} mount {mnt} --bucket {bucket} --project proj --agent alice", timeout=60)
        assert r.returncode == 0, r.stderr
        assert os.path.ismount(mnt)
        assert sh(f"echo hi > {mnt / 'memory/notes/greeting'}").returncode == 0
        rows = json.loads(sh(f"{TCFS} status --json").stdout)
        mine = [row for row in rows if row["mountpoint"] == str(mnt)]
        assert len(mine) == 1 and mine[0]["health"] == "alive"
        assert (mine[0]["agent"], mine[0]["project"], mine[0]["backend"]) == (
            "alice",
            "proj",
            "local",
        )
        records = list((tcfs_home / "run" / "mounts").glob("*.json"))
        assert len(records) == 1 and stat.S_IMODE(records[0].stat().st_mode) == 0o600
        assert "secret" not in records[0].read_text().lower()
        assert "alive" in sh(f"{TCFS} status").stdout

        r = sh(f"{TCFS} mount {mnt} --bucket {bucket} --project proj --agent bob")
        assert r.returncode != 0 and "already mounted" in r.stderr

        r = sh(f"{TCFS} umount {mnt}")
        assert r.returncode == 0, r.stderr
        assert not os.path.ismount(mnt)
        assert not list((tcfs_home / "run" / "mounts").glob("*.json"))
        assert str(mnt) not in sh(f"{TCFS} status").stdout
        # the value went through to the bucket
        assert (bucket / "proj" / "memory" / "notes" / "greeting.json").exists()
    finally:
        detach(mnt, None)


def test_a_password_in_the_endpoint_url_is_never_shown(  # type: ignore[no-untyped-def]
    tmp_path: Path, tcfs_home: Path, moto_server, s3_bucket: str
) -> None:
    """``--endpoint http://user:password@host``: not on the command line of the
    daemon or its mirror (every user's ``ps`` shows those), not in ``tcfs
    status`` (text or JSON), the files the mount writes or its logs, nor in a
    failed mount's error, ``tcfs doctor``'s fix line or ``tcfs init``'s summary."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    s3 = f"--backend s3 --bucket {s3_bucket} --region us-east-1 --project proj --agent alice"
    live = f"http://someone:hunter2@127.0.0.1:{moto_server.port}"
    sessions = {**os.environ, "CLAUDE_CONFIG_DIR": str(tmp_path / "claude")}
    try:
        r = sh(f"{TCFS} mount {mnt} {s3} --endpoint {live} --mirror claude-code", 60, env=sessions)
        assert r.returncode == 0, r.stderr
        record = registry.read_record(str(mnt))
        assert record is not None and record.mirror_pid is not None
        for pid in (record.pid, record.mirror_pid):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes()
            assert b"--project\0proj" in argv and b"hunter2" not in argv
            assert b"TCFS_ENDPOINT=" + live.encode() in Path(f"/proc/{pid}/environ").read_bytes()
        assert sh(f"echo hi > {mnt / 'memory/notes/greeting'}").returncode == 0
        shown = [sh(f"{TCFS} status --json").stdout, sh(f"{TCFS} status").stdout]
        rows = [row for row in json.loads(shown[0]) if row["mountpoint"] == str(mnt)]
        assert rows[0]["endpoint"] == f"http://127.0.0.1:{moto_server.port}"
        shown += [p.read_text() for p in tcfs_home.rglob("*.json")]  # its record, the probe's
        assert sh(f"{TCFS} umount {mnt}").returncode == 0
        shown += [p.read_text() for p in tcfs_home.rglob("*.log")]
    finally:
        detach(mnt, None)
    dead = f"http://someone:hunter2@127.0.0.1:{free_port()}"
    r = sh(f"{TCFS} mount {mnt} {s3} --endpoint {dead}", timeout=90)
    assert r.returncode != 0 and "cannot reach" in r.stderr, r.stderr
    shown += [r.stdout, r.stderr]
    r = sh(f"{TCFS} doctor {s3} --endpoint {dead} --contenders 2", timeout=90)
    assert r.returncode == 4 and "127.0.0.1" in r.stdout, r.stdout + r.stderr
    shown += [r.stdout, r.stderr]
    r = sh(f"{TCFS} init {s3} --endpoint {live}")
    assert r.returncode == 0 and f"endpoint=http://127.0.0.1:{moto_server.port}" in r.stdout
    shown += [r.stdout, r.stderr]
    assert len(shown) >= 7 and not any("hunter2" in text for text in shown)


def test_mount_from_a_directory_holding_a_tcfs_folder(tmp_path: Path, tcfs_home: Path) -> None:
    """A clone's parent directory holds ``tcfs/``: the daemon started in it
    still imports the package that is running, not that folder."""
    script = shutil.which("tcfs", path=str(BIN))
    assert script, "the tcfs script is not installed beside the test interpreter"
    shadow = tmp_path / "parent"
    (shadow / "tcfs").mkdir(parents=True)
    (shadow / "tcfs" / "__init__.py").write_text("raise ImportError('the folder, not tcfs')\n")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        r = sh(
            f"{script} mount {mnt} --bucket {tmp_path / 'bucket'} --project proj --agent alice "
            "--mirror claude-code",
            timeout=60,
            cwd=shadow,
        )
        assert r.returncode == 0, r.stderr
        assert sh(f"echo hi > {mnt / 'memory/notes/greeting'}").returncode == 0
        assert sh(f"cat {mnt / 'memory/notes/greeting'}").stdout == "hi\n"
        r = sh(f"{script} umount {mnt}", cwd=shadow)
        assert r.returncode == 0, r.stderr
    finally:
        detach(mnt, None)


def test_mount_refuses_with_clear_messages(tmp_path: Path, tcfs_home: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "file").write_text("x")
    r = sh(f"{TCFS} mount {busy} --bucket {tmp_path / 'b'} --agent a")
    assert r.returncode != 0 and "not empty" in r.stderr and "Traceback" not in r.stderr
    r = sh(f"{TCFS} mount {tmp_path / 'missing'} --bucket {tmp_path / 'b'} --agent a")
    assert r.returncode != 0 and "does not exist" in r.stderr
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    dead = f"http://127.0.0.1:{free_port()}"
    try:
        r = sh(
            f"{TCFS} mount {mnt} --backend s3 --endpoint {dead} --bucket b --agent a --project p",
            timeout=90,
        )
        assert r.returncode != 0 and "cannot reach" in r.stderr, r.stderr
        assert not os.path.ismount(mnt)
    finally:
        detach(mnt, None)
    r = sh(f"{TCFS} umount {mnt}")
    assert r.returncode != 0 and "not a tcfs mount" in r.stderr


def test_missing_bucket_fails_the_mount(tmp_path: Path, tcfs_home: Path, moto_server) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        r = sh(
            f"{TCFS} mount {mnt} --backend s3 --endpoint {moto_server.endpoint} "
            f"--bucket no-such-bucket-x --agent a --project p",
            timeout=90,
        )
        assert r.returncode != 0 and "mount failed" in r.stderr, r.stderr
        assert "testing" not in r.stderr  # the (fake) secret never shows
    finally:
        detach(mnt, None)


def test_init_writes_private_config(tmp_path: Path, tcfs_home: Path) -> None:
    r = sh(
        f"{TCFS} init --backend s3 --bucket team --endpoint http://127.0.0.1:9 "
        f"--project proj --agent alice"
    )
    assert r.returncode == 0, r.stderr
    cfg = tcfs_home / "config.json"
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    doc = json.loads(cfg.read_text())
    assert doc["bucket"] == "team" and doc["agent"] == "alice"
    assert "secret_key" not in doc and "access_key" not in doc
    r = sh(f"{TCFS} init --backend s3 --bucket team --save-secrets")
    assert r.returncode == 0
    assert json.loads(cfg.read_text())["secret_key"] == "testing"
    assert "testing" not in r.stdout
    r = sh(f"{TCFS} init --agent 'bad name'")
    assert r.returncode != 0 and "agent id" in r.stderr
