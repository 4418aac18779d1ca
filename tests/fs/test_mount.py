"""The mount, driven for real: several mounts as different agents on one bucket,
real shell commands (bash builtins included) in separate processes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tcfs.protocol import Project
from tests.support.mounts import Backend, eventually, sh

pytestmark = [pytest.mark.mount, pytest.mark.slow]


def test_claim_race_one_winner_release_and_reclaim(mount, backend: Backend) -> None:
    mounts = [mount(f"agent{i}") for i in range(4)]
    procs = [
        subprocess.Popen(
            ["bash", "-c", f"echo me > {m / 'steps/s/claim'}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for m in mounts
    ]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    winners = [m for m, (rc, _) in zip(mounts, results, strict=True) if rc == 0]
    assert len(winners) == 1, results
    for m, (rc, err) in zip(mounts, results, strict=True):
        if m is not winners[0]:
            assert rc != 0 and "File exists" in err, (rc, err)
    winner = winners[0]
    for m in mounts:
        out = sh(f"cat {m / 'steps/s/claim'}")
        assert out.returncode == 0 and f"agent: {winner.agent}" in out.stdout
    loser = next(m for m in mounts if m is not winner)
    r = sh(f"rm {loser / 'steps/s/claim'}")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr
    assert sh(f"ls {loser / 'steps'}").stdout.split() == ["s"]
    assert sh(f"rm {winner / 'steps/s/claim'}").returncode == 0
    r = sh(f"echo me > {loser / 'steps/s/claim'} && cat {winner / 'steps/s/claim'}")
    assert r.returncode == 0 and f"agent: {loser.agent}" in r.stdout, r.stderr


def test_status_and_handoff_holder_only(mount, backend: Backend) -> None:
    a, b = mount("alice"), mount("bob")
    assert sh(f"cat {a / 'steps/s2/status'}").stdout == "pending\n"
    assert sh(f"echo me > {a / 'steps/s2/claim'}").returncode == 0
    assert sh(f"cat {b / 'steps/s2/status'}").stdout == "in_progress\n"
    r = sh(f"echo complete > {b / 'steps/s2/status'}")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr
    r = sh(f"echo finished > {a / 'steps/s2/status'}")
    assert r.returncode != 0 and "Invalid argument" in r.stderr
    assert sh(f"echo needs_review > {a / 'steps/s2/status'}").returncode == 0
    assert sh(f"cat {b / 'steps/s2/status'}").stdout == "needs_review\n"
    note = '{"note": "all done", "next_agent": "bob", "next_action": "review"}'
    assert sh(f"echo '{note}' > {a / 'steps/s2/handoff'}").returncode == 0
    out = sh(f"cat {b / 'steps/s2/handoff'}").stdout
    assert '"next_agent": "bob"' in out and '"note": "all done"' in out
    assert sh(f"cat {b / 'steps/s2/status'}").stdout == "complete\n"
    assert sorted(sh(f"ls {b / 'steps/s2'}").stdout.split()) == ["claim", "handoff", "status"]


def test_messages_inbox_next_and_broadcast(mount, backend: Backend) -> None:
    a = mount("alice", wait_timeout=3)
    dev = mount("developer", wait_timeout=3)
    c = mount("carol", wait_timeout=3)
    assert sh(f'echo "Design is ready" > {a / "outbox/developer"}').returncode == 0
    assert sh(f"ls {a / 'outbox'}").stdout == ""
    r = sh(f"cat {dev / 'inbox'}/*")
    assert r.returncode == 0 and r.stdout == "Design is ready\n"
    r = sh(f"cat {dev / 'inbox/next'}")
    assert r.returncode == 0 and r.stdout == "Design is ready\n"
    r = sh(f"cat {dev / 'inbox/next'}")
    assert r.returncode != 0 and "timed out" in r.stderr
    assert sh(f"ls {dev / 'inbox'}").stdout.split().count("next") == 0  # hidden

    assert sh(f'echo "all hands" > {a / "outbox/_broadcast"}').returncode == 0
    for m in (dev, c):
        assert "all hands" in sh(f"cat {m / 'inbox'}/*").stdout
    assert "all hands" not in sh(f"cat {a / 'inbox'}/* 2>/dev/null").stdout
    assert sh(f"cat {c / 'inbox/next'}").stdout == "all hands\n"
    name = next(
        n
        for n in sh(f"ls {dev / 'inbox'}").stdout.split()
        if "all hands" in sh(f"cat {dev / 'inbox' / n}").stdout
    )
    assert sh(f"rm {dev / 'inbox' / name}").returncode == 0
    assert name not in sh(f"ls {dev / 'inbox'}").stdout.split()
    assert name in sh(f"ls {c / 'inbox'}").stdout.split()
    # a bad recipient never becomes a key
    r = sh(f"echo hi > '{a / 'outbox/bad name!'}'")
    assert r.returncode != 0 and "Invalid argument" in r.stderr


def test_memory_across_mounts(mount, backend: Backend, request: pytest.FixtureRequest) -> None:
    a, b = mount("alice"), mount("bob")
    # a namespace directly under memory/ exists as soon as it is named: no mkdir
    r = sh(f"echo complete > {a / 'memory/design/status'}")
    assert r.returncode == 0, r.stderr
    # bash's redirection flushes a descriptor before it writes: still one set,
    # one history entry, and never an empty value in between
    hist = [k for k in backend.store.keys("memory/_history/design/status/")]
    assert len(hist) == 1, hist
    assert sh(f"cat {b / 'memory/design/status'}").stdout == "complete\n"
    assert sh(f"ls {b / 'memory/design'}").stdout.split() == ["status"]
    assert sh(f"ls {b / 'memory'}").stdout.split() == ["design"]
    assert sh(f"echo more >> {b / 'memory/design/status'}").returncode == 0
    assert sh(f"cat {a / 'memory/design/status'}").stdout == "complete\nmore\n"
    if backend.name == "s3":
        tracecraft = request.getfixturevalue("tracecraft")
        out = tracecraft("cli-agent", "memory", "get", "design.status")
        assert out.returncode == 0 and "complete" in out.stdout, out.stderr
    # rmdir only when empty; rm deletes values
    r = sh(f"rmdir {b / 'memory/design'}")
    assert r.returncode != 0 and "not empty" in r.stderr
    assert sh(f"rm {b / 'memory/design/status'}").returncode == 0
    assert sh(f"cat {a / 'memory/design/status'}").returncode != 0
    assert sh(f"mkdir {a / 'memory/design/tmp'} && rmdir {a / 'memory/design/tmp'}").returncode == 0
    assert sh(f"mkdir -p {a / 'memory/tmp'} && rmdir {a / 'memory/tmp'}").returncode == 0
    # `: > memory/k` writes nothing and still sets the empty value
    assert sh(f": > {a / 'memory/design/empty'}").returncode == 0
    assert eventually(lambda: sh(f"cat {b / 'memory/design/empty'}").stdout == "\n")
    # deeper names are absent until created: a missing key reads as missing
    r = sh(f"cat {a / 'memory/design/nothing-here'}")
    assert r.returncode != 0 and "No such file" in r.stderr
    r = sh(f"echo v > {a / 'memory/ns/deeper/key'}")
    assert r.returncode != 0 and "No such file" in r.stderr
    r = sh(f"mkdir -p {a / 'memory/ns/deeper'} && echo v > {a / 'memory/ns/deeper/key'}")
    assert r.returncode == 0, r.stderr
    assert sh(f"cat {b / 'memory/ns/deeper/key'}").stdout == "v\n"


def test_wait_blocks_until_handoff(mount, backend: Backend) -> None:
    a, b = mount("alice"), mount("bob", wait_timeout=60)
    assert sh(f"echo me > {a / 'steps/build/claim'}").returncode == 0
    waiter = subprocess.Popen(
        ["bash", "-c", f"cat {b / 'steps/build/wait'}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)
    assert waiter.poll() is None  # still blocked: the step is in progress
    assert sh(f"ls {b / 'steps/build'}").returncode == 0  # other operations go on
    assert sh(f"echo 'built it' > {a / 'steps/build/handoff'}").returncode == 0
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0 and out == "complete\n", err
    assert "wait" not in sh(f"ls {b / 'steps/build'}").stdout


def test_wait_timeout_and_blocked(mount, backend: Backend) -> None:
    a = mount("alice", wait_timeout=2)
    r = sh(f"cat {a / 'steps/never/wait'}")
    assert r.returncode != 0 and "timed out" in r.stderr
    assert sh(f"echo me > {a / 'steps/stuck/claim'}").returncode == 0
    assert sh(f"echo blocked > {a / 'steps/stuck/status'}").returncode == 0
    r = sh(f"cat {a / 'steps/stuck/wait'}")
    assert r.returncode != 0 and "canceled" in r.stderr.lower()


def test_artifact_roundtrip(mount, backend: Backend, tmp_path: Path) -> None:
    a, b = mount("alice"), mount("bob")
    size = (50 << 20) if backend.name == "s3" else (3 << 20) + 17  # 50 MB only once
    src = tmp_path / "blob.bin"
    src.write_bytes(os.urandom(size))
    r = sh(f"cp {src} {a / 'artifacts/shared/'}", timeout=170)
    assert r.returncode == 0, r.stderr
    r = sh(f"stat -c %s {b / 'artifacts/shared/blob.bin'}")
    assert r.stdout.strip() == str(size)
    back = tmp_path / "back.bin"
    r = sh(f"cp {b / 'artifacts/shared/blob.bin'} {back} && cmp {src} {back}", timeout=170)
    assert r.returncode == 0, r.stderr
    assert "shared" in sh(f"ls {b / 'artifacts'}").stdout.split()
    assert sh(f"echo note > {a / 'artifacts/s1/notes.txt'}").returncode == 0
    assert sh(f"cat {b / 'artifacts/s1/notes.txt'}").stdout == "note\n"
    assert sh(f"rm {b / 'artifacts/s1/notes.txt'}").returncode == 0
    assert sh(f"cat {a / 'artifacts/s1/notes.txt'}").returncode != 0


def test_tail_f_follows_a_growing_session(mount, backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    prefix = "sessions/claude/sess-1/"
    store.put(prefix + "part-00000-0000aaaa.jsonl", b'{"n": 0}\n{"n": 1}\n')
    a = mount("alice")
    path = a / "sessions/claude/sess-1.jsonl"
    assert sh(f"ls {a / 'sessions'}").stdout.split() == ["claude"]
    assert sh(f"ls {a / 'sessions/claude'}").stdout.split() == ["sess-1.jsonl"]
    assert sh(f"cat {path}").stdout == '{"n": 0}\n{"n": 1}\n'
    out = tmp_path / "tail.out"
    with open(out, "wb") as f:
        tail = subprocess.Popen(
            ["tail", "-n", "+1", "-f", str(path)], stdout=f, stderr=subprocess.STDOUT
        )
    try:
        assert eventually(lambda: out.read_text().count("\n") == 2)
        store.put(prefix + "part-00001-0000bbbb.jsonl", b'{"n": 2}\n')
        assert eventually(lambda: '{"n": 2}' in out.read_text(), timeout=20)
        store.put(prefix + "part-00002-0000cccc.jsonl", b'{"n": 3}\n{"n": 4}\n')
        assert eventually(lambda: '{"n": 4}' in out.read_text(), timeout=20)
    finally:
        tail.kill()
        tail.wait(timeout=10)
    assert out.read_text().splitlines() == [f'{{"n": {i}}}' for i in range(5)]
    # readable at any offset
    assert sh(f"tail -c 9 {path}").stdout == '{"n": 4}\n'
    r = sh(f"echo x >> {path}")
    assert r.returncode != 0 and "Permission denied" in r.stderr


def test_hostile_input_gets_designed_errors(mount, backend: Backend) -> None:
    a = mount("alice")
    store = backend.store
    cases = {
        f"echo me > {a / 'steps/BAD.ID/claim'}": "Invalid argument",
        f"echo x > {a / 'memory/a.b'}": "Invalid argument",
        f"echo x > {a / 'memory/_x'}": "Invalid argument",
        f"echo x > {a / 'steps/_x/claim'}": "Invalid argument",
        f"echo x > {a / ('memory/' + 'k' * 200)}": "Invalid argument",
        f"echo x > {a / ('memory/' + 'k' * 300)}": "File name too long",
        f"echo x > {a / 'README'}": "Permission denied",
        f"echo x > {a / 'agents/alice.json'}": "Permission denied",
        f"echo x > {a / 'agents/new.json'}": "Permission denied",
        f"touch {a / 'steps/s/other'}": "Permission denied",
        f"mv {a / 'README'} {a / 'README2'}": "not supported",
        f"ln -s x {a / 'memory/link'}": "not supported",
        f"chmod 777 {a / 'README'}": "not supported",
        f"cat {a / 'memory/..'}/README": "",  # '..' is the kernel's: back to the root
    }
    for cmd, err in cases.items():
        r = sh(cmd)
        if err:
            assert r.returncode != 0 and err in r.stderr, (cmd, r.returncode, r.stderr)
        else:
            assert r.returncode == 0, (cmd, r.stderr)
    r = sh(f"echo me > {a / 'steps/big/claim'} && head -c 100M /dev/zero > {a / 'steps/big/claim'}")
    assert r.returncode != 0 and "File too large" in r.stderr
    # malformed objects left by others: EIO for that file, the mount stays up
    store.put("steps/broken/claim.json", b"this is not json")
    store.put("memory/listy.json", b"[1, 2, 3]")
    store.put("agents/weird.json", b"\xff\xfe")
    # a one-part key made after the mount started shows once the mount learns
    # of it: a listing of memory/ teaches it at once (else a check, 30 s on)
    assert "listy" in sh(f"ls {a / 'memory'}").stdout
    for rel in ("steps/broken/claim", "memory/listy", "agents/weird.json"):
        r = sh(f"cat {a / rel}")
        assert r.returncode != 0 and "Input/output error" in r.stderr, (rel, r.stderr)
    r = sh(f"echo me > {a / 'steps/broken/claim'}")
    assert r.returncode != 0 and "Input/output error" in r.stderr
    assert sh(f"ls {a / 'memory'}").returncode == 0
    assert "broken" in sh(f"ls {a / 'steps'}").stdout.split()
    assert a.proc.poll() is None
    assert "Traceback" not in a.log_text()


def test_sigkill_umount_and_lease_takeover(mount, backend: Backend, tcfs_home: Path) -> None:
    a = mount("alice", lease_ttl=5)
    b = mount("bob", lease_ttl=5)
    assert sh(f"echo me > {a / 'steps/s/claim'}").returncode == 0
    claims = Project(backend.store, "observer").steps
    first = claims.read_claim("s")
    # the live daemon renews the lease before it runs out: seen in the bucket
    assert eventually(lambda: claims.read_claim("s").etag != first.etag, timeout=30, step=0.2)
    renewed = claims.read_claim("s")
    assert renewed.agent == "alice" and renewed.epoch == first.epoch
    assert renewed.expires_at is not None and first.expires_at is not None
    assert renewed.expires_at > first.expires_at
    r = sh(f"echo me > {b / 'steps/s/claim'}")
    assert r.returncode != 0 and "File exists" in r.stderr
    assert "agent: alice" in sh(f"cat {b / 'steps/s/claim'}").stdout
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait(timeout=10)
    r = sh(f"{os.sys.executable} -m tcfs umount {a.path}")
    assert r.returncode == 0, r.stderr
    assert not os.path.ismount(a.path)
    r = sh(f"echo me > {b / 'steps/s/claim'}")
    assert r.returncode != 0 and "File exists" in r.stderr  # the lease is still live
    assert eventually(
        lambda: sh(f"echo me > {b / 'steps/s/claim'}").returncode == 0, timeout=30, step=1
    )
    assert "agent: bob" in sh(f"cat {b / 'steps/s/claim'}").stdout
    assert b.proc.poll() is None


def test_mirror_companion_runs_with_the_mount(mount, backend: Backend, tmp_path: Path) -> None:
    if backend.name != "local":
        pytest.skip("the companion's lifecycle does not depend on the backend")
    a = mount("alice", extra=["--mirror", "claude-code"])
    assert sh(f"ls {a.path}").returncode == 0
    assert eventually(lambda: "mirror for claude-code started" in a.log_text()), a.log_text()
    a.proc.send_signal(signal.SIGTERM)
    a.proc.wait(timeout=20)
    assert "unmounted" in a.log_text()
    assert not os.path.ismount(a.path)
