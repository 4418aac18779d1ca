"""``tcfs init`` run again: only the given options change; ``--reset`` starts over."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ENDPOINT = "http://127.0.0.1:9"


def tcfs(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tcfs", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
    )


def first_init(cwd: Path, tcfs_home: Path) -> Path:
    """An s3 set-up with an endpoint: the settings a later init must not drop."""
    r = tcfs("init", "--backend", "s3", "--bucket", "team", "--endpoint", ENDPOINT, cwd=cwd)
    assert r.returncode == 0, r.stderr
    return tcfs_home / "config.json"


def test_a_second_init_keeps_what_it_was_not_given(tmp_path: Path, tcfs_home: Path) -> None:
    cfg = first_init(tmp_path, tcfs_home)
    second = tcfs("init", "--agent", "alice", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    doc = json.loads(cfg.read_text())
    assert doc == {
        "backend": "s3",
        "bucket": "team",
        "endpoint": ENDPOINT,
        "agent": "alice",
    }
    assert "kept from before: backend, bucket, endpoint" in second.stdout
    third = tcfs("init", "--bucket", "other", cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    assert json.loads(cfg.read_text())["bucket"] == "other"
    assert json.loads(cfg.read_text())["endpoint"] == ENDPOINT


def test_reset_starts_over(tmp_path: Path, tcfs_home: Path) -> None:
    cfg = first_init(tmp_path, tcfs_home)
    r = tcfs("init", "--reset", "--bucket", str(tmp_path / "bucket"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(cfg.read_text()) == {"backend": "local", "bucket": str(tmp_path / "bucket")}
    assert "kept" not in r.stdout
    # the s3 backend needs a bucket: a reset does not take the old one back
    r = tcfs("init", "--reset", "--backend", "s3", cwd=tmp_path)
    assert r.returncode != 0 and "--bucket" in r.stderr


def test_a_bad_project_name_is_called_a_project_name(tmp_path: Path, tcfs_home: Path) -> None:
    r = tcfs("init", "--project", "my project", cwd=tmp_path)
    assert r.returncode != 0
    assert "project name 'my project'" in r.stderr and "agent id" not in r.stderr
    r = tcfs("init", "--agent", "bad name", cwd=tmp_path)
    assert r.returncode != 0 and "agent id 'bad name'" in r.stderr
