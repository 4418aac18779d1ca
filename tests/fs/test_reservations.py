"""``reservations/<name>`` on real mounts: reserve, conflict naming the holder,
release by the holder only, takeover once the holder's lease has expired, and
racing shells that never both hold overlapping globs."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.mounts import Backend, Mount, eventually, sh

pytestmark = pytest.mark.mount


def check(m: Mount) -> dict[str, object]:
    out = sh(f"cat {m / 'reservations/check'}")
    assert out.returncode == 0, out.stderr
    doc: dict[str, object] = json.loads(out.stdout)
    return doc


def test_reserve_conflict_release(mount, backend: Backend) -> None:
    a, b = mount("alice"), mount("bob")
    r = sh(f"printf 'src/api/**\\ndocs/api.md\\n' > {a / 'reservations/api'}")
    assert r.returncode == 0, r.stderr
    shown = sh(f"cat {b / 'reservations/api'}").stdout
    assert "agent: alice" in shown and "  src/api/**\n  docs/api.md\n" in shown
    assert "lease: 30s" in shown
    assert sh(f"ls {b / 'reservations'}").stdout.split() == ["api"]  # check is never listed

    # an overlapping glob under another name: EEXIST, and the reason names the holder
    r = sh(f"echo src/api/user.py > {b / 'reservations/mine'}")
    assert r.returncode != 0 and "File exists" in r.stderr, r
    assert "reservation api held by alice" in str(check(b)["last_refusal"])
    # the same name: refused at open already
    r = sh(f"echo 'lib/**' > {b / 'reservations/api'}")
    assert r.returncode != 0 and "File exists" in r.stderr, r
    assert sh(f"ls {b / 'reservations'}").stdout.split() == ["api"]

    assert sh(f"echo 'src/web/**' > {b / 'reservations/web'}").returncode == 0  # disjoint
    assert sh(f"echo lib/web.py >> {b / 'reservations/web'}").returncode == 0  # adds a glob
    assert "  src/web/**\n  lib/web.py\n" in sh(f"cat {a / 'reservations/web'}").stdout
    assert sh(f"echo 'src/web/**' > {b / 'reservations/web'}").returncode == 0  # replaces
    live = check(a)["reservations"]
    assert [(x["name"], x["agent"], x["globs"]) for x in live] == [  # type: ignore[index, union-attr]
        ("api", "alice", ["src/api/**", "docs/api.md"]),
        ("web", "bob", ["src/web/**"]),
    ]

    r = sh(f"rm {b / 'reservations/api'}")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr
    assert sh(f"rm {a / 'reservations/api'}").returncode == 0
    assert sh(f"ls {a / 'reservations'}").stdout.split() == ["web"]
    r = sh(f"echo src/api/user.py > {b / 'reservations/mine'}")
    assert r.returncode == 0, r.stderr
    # bad globs never become a reservation
    r = sh(f"echo ../etc > {a / 'reservations/bad'}")
    assert r.returncode != 0 and "Invalid argument" in r.stderr
    r = sh(f"echo x > {a / 'reservations/_bad'}")
    assert r.returncode != 0 and "Invalid argument" in r.stderr
    assert eventually(lambda: "reserved mine" in sh(f"cat {a / 'events'}").stdout)
    # events are written after the action, off its path: alice's may come after bob's
    assert eventually(lambda: "released reservation api" in sh(f"cat {a / 'events'}").stdout)


def test_takeover_after_the_holder_is_gone(mount, backend: Backend) -> None:
    a, b = mount("alice", lease_ttl=5), mount("bob", lease_ttl=5)
    assert sh(f"echo 'src/**' > {a / 'reservations/all'}").returncode == 0
    r = sh(f"echo src/x.py > {b / 'reservations/x'}")
    assert r.returncode != 0 and "File exists" in r.stderr
    # alice's mount renews her lease while it runs: still refused well past 5 s
    assert not eventually(
        lambda: sh(f"echo src/x.py > {b / 'reservations/x'}").returncode == 0, timeout=9
    )
    a.proc.kill()  # the holder is gone: no more renewals
    a.proc.wait(timeout=10)
    assert eventually(
        lambda: sh(f"echo src/x.py > {b / 'reservations/x'}").returncode == 0, timeout=20
    ), b.log_text()
    assert sh(f"ls {b / 'reservations'}").stdout.split() == ["x"]
    assert eventually(lambda: "(expired, from alice)" in sh(f"cat {b / 'events'}").stdout)


def test_racing_shells_never_both_hold_overlapping_globs(mount, backend: Backend) -> None:
    a, b = mount("alice"), mount("bob")
    for i in range(12):
        procs = [
            subprocess.Popen(
                ["bash", "-c", f"echo '{glob}' > {m / 'reservations' / name}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for m, name, glob in ((a, f"a{i}", f"r{i}/**"), (b, f"b{i}", f"r{i}/x.py"))
        ]
        codes = [p.wait(timeout=60) for p in procs]
        assert sorted(codes) == [0, 1], (i, codes, [p.stderr.read() for p in procs])  # type: ignore[union-attr]
        held = [x["name"] for x in check(a)["reservations"]]  # type: ignore[union-attr, index]
        assert len([n for n in held if n[1:] == str(i)]) == 1, held
