"""Leases across machines whose clocks disagree, with real mounts on moto.

Each daemon stands in for its own machine: ``tests/clockshift`` goes first on
its ``PYTHONPATH`` and moves its wall clock by ``TCFS_TEST_CLOCK_SHIFT``
seconds (its monotonic clock, and moto's clock, stay true).  Expiry is judged
on the store's clock, so no shift may let an agent take over a live lease;
the mount and ``tcfs doctor`` report the shift.  Also here: a lease that lapsed
while the store was out of reach (behind a loopback proxy that drops every
connection) is never renewed, and a complete step stays complete.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcfs.protocol.steps import EXPIRY_MARGIN_S, SKEW_REFUSE_S
from tests.support.loopback_proxy import LoopbackProxy, Request
from tests.support.mounts import Backend, eventually, sh

pytestmark = [pytest.mark.mount, pytest.mark.slow]

SHIM = str(Path(__file__).resolve().parent.parent / "clockshift")
TTL = 5.0
CLAIM = "steps/s/claim"
CLAIM_KEY = "steps/s/claim.json"


def shifted(seconds: float) -> dict[str, str]:
    """The environment of a daemon whose machine's clock is ``seconds`` off."""
    path = os.pathsep.join(p for p in (SHIM, os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, "TCFS_TEST_CLOCK_SHIFT": str(seconds)}


def tcfs(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tcfs", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def reported_skew(text: str) -> float:
    """The skew a line like "clock 120.0s ahead of the store's" reports (signed)."""
    found = re.search(r"([0-9.]+) ?s (ahead of|behind) the store's", text)
    assert found, text
    return float(found[1]) * (1 if found[2] == "ahead of" else -1)


def claim_modified(backend: Backend) -> float:
    """The claim's Last-Modified: the store's clock, the one every judge shares."""
    return float(backend.store.head(CLAIM_KEY).mtime)


s3_only = pytest.mark.parametrize("backend", ["s3"], indirect=True)


@s3_only
@pytest.mark.parametrize("skew", [5, -5, 30, -30, 120, -120])
def test_skewed_clocks_never_split_a_lease(mount, backend: Backend, skew: float) -> None:
    """The holder's clock ``skew`` behind the truth and the contender's ``skew``
    ahead (twice ``skew`` apart): while the holder lives, every claim of the
    contender is refused and every status write of the holder lands; once it
    is gone, the contender takes over only after a whole lease and the margin
    on the store's clock."""
    holder = mount("alice", lease_ttl=TTL, env=shifted(-skew))
    contender = mount("bob", lease_ttl=TTL, env=shifted(skew))
    assert sh(f"echo me > {holder / CLAIM}").returncode == 0
    deadline = time.monotonic() + 2.5 * TTL  # past two renewals
    while time.monotonic() < deadline:
        r = sh(f"echo me > {contender / CLAIM}")
        assert r.returncode != 0 and "File exists" in r.stderr, (r.stderr, contender.log_text())
        w = sh(f"echo in_progress > {holder / 'steps/s/status'}")
        assert w.returncode == 0, w.stderr  # and the holder is still told it holds
        time.sleep(0.5)

    # both mounts measured their machine's skew, and say so
    for m, shift in ((holder, -skew), (contender, skew)):
        assert reported_skew(m.log_text()) == pytest.approx(shift, abs=1.5)
    line = next(x for x in tcfs("status").stdout.splitlines() if str(contender.path) in x)
    assert reported_skew(line) == pytest.approx(skew, abs=1.5)

    holder.proc.send_signal(signal.SIGKILL)
    holder.proc.wait(timeout=10)
    assert tcfs("umount", str(holder.path)).returncode == 0
    last_renewal = claim_modified(backend)
    assert eventually(
        lambda: sh(f"echo me > {contender / CLAIM}").returncode == 0, timeout=30, step=0.5
    ), contender.log_text()
    # Last-Modified has one-second resolution: a second of slack
    assert claim_modified(backend) - last_renewal >= TTL + EXPIRY_MARGIN_S - 1
    assert "agent: bob" in sh(f"cat {contender / CLAIM}").stdout


@s3_only
def test_a_clock_far_off_does_not_take_leases_over(mount, backend: Backend) -> None:
    """Past ``SKEW_REFUSE_S`` the mount claims free steps but refuses to judge
    another agent's lease, and says why; ``tcfs status`` says so too."""
    holder = mount("alice", lease_ttl=TTL)
    far = mount("bob", lease_ttl=TTL, env=shifted(SKEW_REFUSE_S + 300))
    assert sh(f"echo me > {far / 'steps/free/claim'}").returncode == 0
    assert sh(f"echo me > {holder / CLAIM}").returncode == 0
    holder.proc.send_signal(signal.SIGKILL)
    holder.proc.wait(timeout=10)
    assert tcfs("umount", str(holder.path)).returncode == 0
    time.sleep(TTL + EXPIRY_MARGIN_S + 2)
    r = sh(f"echo me > {far / CLAIM}")
    assert r.returncode != 0 and "File exists" in r.stderr
    assert "not taking it over until the clock is fixed" in far.log_text()
    line = next(x for x in tcfs("status").stdout.splitlines() if str(far.path) in x)
    assert "refuses to take over leases" in line


@s3_only
@pytest.mark.parametrize("skew", [120, -30])
def test_doctor_reports_the_skew(
    backend: Backend, moto_server, s3_bucket, tmp_path: Path, skew: float
) -> None:
    args = ["--backend", "s3", "--endpoint", moto_server.endpoint, "--bucket", s3_bucket]
    r = tcfs("doctor", *args, "--region", "us-east-1", "--project", "proj", env=shifted(skew))
    assert r.returncode == 0, r.stdout + r.stderr
    line = next(x for x in r.stdout.splitlines() if "clock:" in x)
    assert line.startswith("✗") and reported_skew(line) == pytest.approx(skew, abs=1.5)
    r = tcfs("doctor", "--backend", "local", "--bucket", str(tmp_path / "local"))
    assert "clock: local backend" in r.stdout and "no skew" in r.stdout


@s3_only
def test_a_fast_clock_does_not_fence_out_later_holders(mount, backend: Backend) -> None:
    """An agent whose clock is 120 s fast claims, hands off, releases; an honest
    agent claims again: its epoch is newer, so its own handoff is accepted."""
    fast = mount("alice", lease_ttl=TTL, env=shifted(120))
    honest = mount("bob", lease_ttl=TTL)
    assert sh(f"echo me > {fast / CLAIM}").returncode == 0
    blocked = '{"note": "half", "state": "blocked"}'
    assert sh(f"echo '{blocked}' > {fast / 'steps/s/handoff'}").returncode == 0
    assert sh(f"rm {fast / CLAIM}").returncode == 0
    assert sh(f"echo me > {honest / CLAIM}").returncode == 0
    r = sh(f"echo all done > {honest / 'steps/s/handoff'}")
    assert r.returncode == 0, r.stderr
    assert '"note": "all done"' in sh(f"cat {fast / 'steps/s/handoff'}").stdout
    assert sh(f"cat {fast / 'steps/s/status'}").stdout == "complete\n"


@pytest.fixture
def outage(moto_server) -> Iterator[tuple[LoopbackProxy, dict[str, bool]]]:
    """A proxy in front of moto that drops every connection while ``down``."""
    state = {"down": False}

    def hook(_req: Request) -> str:
        return "drop" if state["down"] else "forward"

    proxy = LoopbackProxy(moto_server.port, hook)
    yield proxy, state
    proxy.close()


@s3_only
def test_a_lease_that_lapsed_out_of_reach_is_never_renewed(
    mount, backend: Backend, outage: tuple[LoopbackProxy, dict[str, bool]]
) -> None:
    """The holder's store is out of reach for longer than a lease, then back:
    its daemon does not renew the lapsed lease (the step can be claimed by
    another agent), its writes are refused, and its handoff is never seen."""
    proxy, state = outage
    alice = mount("alice", lease_ttl=TTL, extra=["--endpoint", proxy.endpoint])
    bob = mount("bob", lease_ttl=TTL)
    assert sh(f"echo me > {alice / CLAIM}").returncode == 0
    state["down"] = True
    time.sleep(TTL * 2.5)
    state["down"] = False
    r = sh(f"echo complete > {alice / 'steps/s/status'}", timeout=60)
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr
    r = sh(f"echo late note > {alice / 'steps/s/handoff'}", timeout=60)
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr
    assert eventually(
        lambda: sh(f"echo me > {bob / CLAIM}").returncode == 0, timeout=TTL * 4, step=0.5
    ), alice.log_text()
    assert "agent: bob" in sh(f"cat {alice / CLAIM}").stdout
    assert sh(f"cat {bob / 'steps/s/handoff'}").returncode != 0  # never visible
    renewals = proxy.count_where(lambda r: r.method == "PUT" and r.path.endswith(CLAIM_KEY))
    time.sleep(TTL * 1.5)  # alice's daemon renews nothing any more
    assert proxy.count_where(lambda r: r.method == "PUT" and r.path.endswith(CLAIM_KEY)) == renewals
    assert "agent: bob" in sh(f"cat {bob / CLAIM}").stdout
    assert "not renewed within" in alice.log_text()


def test_completion_is_final_through_the_mount(mount, backend: Backend) -> None:
    """``echo complete > status; rm claim``: the lease goes, the step stays
    complete, waiters get ``complete`` at once, and nobody claims it again."""
    alice, bob = mount("alice"), mount("bob")
    assert sh(f"echo me > {alice / CLAIM}").returncode == 0
    assert sh(f"echo complete > {alice / 'steps/s/status'}").returncode == 0
    assert sh(f"rm {alice / CLAIM}").returncode == 0
    assert sh(f"cat {bob / 'steps/s/status'}").stdout == "complete\n"
    assert not backend.store.exists(CLAIM_KEY)
    started = time.monotonic()
    r = sh(f"cat {bob / 'steps/s/wait'}", timeout=15)
    assert (r.returncode, r.stdout) == (0, "complete\n")
    assert time.monotonic() - started < 3
    for m in (bob, alice):
        r = sh(f"echo me > {m / CLAIM}")
        assert r.returncode != 0 and "File exists" in r.stderr
    assert sh(f"cat {alice / 'steps/s/status'}").stdout == "complete\n"
