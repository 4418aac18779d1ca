"""The event log as mounts write it, and ``events`` on the mount, driven with
real shell commands on real mounts (local directory and S3)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tcfs.protocol.events.reader import read_log
from tcfs.protocol.events.verify import verify
from tests.support.mounts import Backend, eventually, sh


def test_every_mount_action_is_logged_in_a_chain(mount, backend: Backend) -> None:
    m = mount("alice")
    alice = m.path
    cmds = [
        f"echo me > {alice}/steps/api/claim",
        f"echo in_progress > {alice}/steps/api/status",
        f"echo hello bob > {alice}/outbox/bob",
        f"echo to all > {alice}/outbox/_broadcast",
        f"echo postgres > {alice}/memory/design/db",
        f"rm {alice}/memory/design/db",
        f"head -c 5000 /dev/zero > {alice}/artifacts/shared/blob.bin",
        f"rm {alice}/artifacts/shared/blob.bin",
        f"echo 'api done' > {alice}/steps/api/handoff",
        f"echo me > {alice}/steps/web/claim",
        f"rm {alice}/steps/web/claim",
        f"echo 'src/**' > {alice}/reservations/src",
        f"rm {alice}/reservations/src",
    ]
    for cmd in cmds:
        out = sh(cmd)
        assert out.returncode == 0, f"{cmd}: {out.stderr}"
    sh(f"fusermount3 -u {alice}")  # a clean unmount flushes the log
    assert eventually(lambda: m.proc.poll() is not None, timeout=30)

    evs, malformed = read_log(backend.store)
    assert malformed == [] and verify(evs) == []
    got = [(e.kind, e.subject) for e in evs]
    assert got == [
        ("agent-up", None),
        ("claim", "api"),
        ("status", "api"),
        ("send", "bob"),
        ("broadcast", "_broadcast"),
        ("memory-set", "design.db"),
        ("memory-delete", "design.db"),
        ("artifact-put", "shared/blob.bin"),
        ("artifact-delete", "shared/blob.bin"),
        ("handoff", "api"),
        ("claim", "web"),
        ("release", "web"),
        ("reserve", "src"),
        ("reserve-release", "src"),
        ("agent-down", None),
    ]
    by_kind = {e.kind: e for e in evs}
    assert by_kind["artifact-put"].detail["size"] == 5000
    assert by_kind["handoff"].detail["note"] == "api done"
    assert by_kind["memory-set"].detail["value"] == "postgres"
    assert by_kind["claim"].epoch is not None and by_kind["claim"].detail["lease_s"] == 30
    assert by_kind["reserve"].detail["globs"] == "src/**"
    assert by_kind["reserve"].line().endswith("reserved src: src/**")


def test_tail_f_events_shows_another_mounts_claim(mount, backend: Backend, tmp_path: Path) -> None:
    alice, bob = mount("alice").path, mount("bob").path
    out = tmp_path / "events.out"
    with open(out, "wb") as f:
        tail = subprocess.Popen(["tail", "-n", "+1", "-f", str(alice / "events")], stdout=f)
    try:
        assert eventually(lambda: b"bob is up" in out.read_bytes(), timeout=20), out.read_bytes()
        started = time.monotonic()
        assert sh(f"echo me > {bob}/steps/api/claim").returncode == 0
        assert eventually(lambda: b"bob claimed api" in out.read_bytes(), timeout=20, step=0.05)
        seen_after = time.monotonic() - started
        print(f"tail -f events showed bob's claim after {seen_after:.2f} s")
        text = out.read_text()
        assert "alice is up (mounted)" in text
        assert sh(f"echo hi > {bob}/outbox/alice").returncode == 0
        assert eventually(lambda: b'bob sent alice "hi"' in out.read_bytes(), timeout=20)
    finally:
        tail.kill()
        tail.wait(timeout=10)
    # read-only, and listed at the root
    assert "events" in sh(f"ls {alice}").stdout.split()
    assert sh(f"echo x > {alice}/events").returncode != 0
    assert sh(f"rm {alice}/events").returncode != 0


def test_a_closed_events_file_is_not_followed(mount, backend: Backend) -> None:
    alice = mount("alice").path
    assert eventually(lambda: "alice is up" in sh(f"cat {alice}/events").stdout)
    size = (alice / "events").stat().st_size
    assert sh(f"echo v > {alice}/memory/a/b").returncode == 0
    time.sleep(2)  # nobody has the file open: nothing reads the log meanwhile
    assert (alice / "events").stat().st_size == size
    assert "set memory a.b" in sh(f"cat {alice}/events").stdout  # an open catches up
