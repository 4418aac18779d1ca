"""Blocked readers on real mounts are woken by doorbells, not by listing.

A message wakes ``inbox/next`` and a completion wakes ``wait`` long before the
sweep could; a sender that rings nothing (the real ``tracecraft`` CLI) is
caught by the sweep; a bell the endpoint throttles (503/429) never fails a
send; and a few waits never LIST all of ``steps/``.  Requests are counted at a
proxy in front of the S3 endpoint.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tcfs.protocol import Project, keys
from tests.support.loopback_proxy import refuse
from tests.support.mounts import Backend, Mount, eventually, sh

pytestmark = [pytest.mark.mount, pytest.mark.slow]

#: long enough that only a bell can explain a wake-up inside WAKE_S
LONG_SWEEP = ["--sweep", "300"]
WAKE_S = 20.0


def blocked(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        ["cat", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    time.sleep(0.5)
    assert proc.poll() is None, proc.communicate()
    return proc


def finish(proc: subprocess.Popen[str], timeout: float = WAKE_S) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        return -1, out, err
    return proc.returncode, out, err


def test_a_message_wakes_inbox_next(mount, backend: Backend) -> None:
    m = mount("watcher", wait_timeout=120, extra=LONG_SWEEP)
    reader = blocked(m / "inbox/next")
    bob = Project(backend.store, "bob")
    bob.messages.send("watcher", "wake up")
    rc, out, err = finish(reader)
    assert (rc, out) == (0, "wake up\n"), err
    bob.close()


def test_a_completion_wakes_wait(mount, backend: Backend) -> None:
    m = mount("watcher", wait_timeout=WAKE_S, extra=LONG_SWEEP)
    readers = [blocked(m / f"steps/dep-{i}/wait") for i in range(3)]
    assert len(list(backend.store.keys(keys.WAITERS_ROOT))) == 3  # one subscription each
    bob = Project(backend.store, "bob")
    bob.steps.claim("dep-1")
    bob.steps.handoff("dep-1", note="done")
    rc, out, err = finish(readers[1])
    assert (rc, out) == (0, "complete\n"), err
    # the others still wait, until their timeout
    for r in (readers[0], readers[2]):
        rc, _, err = finish(r, timeout=WAKE_S + 30)
        assert rc != 0 and "timed out" in err
    # the mount's subscriptions go when its readers do
    assert eventually(lambda: not list(backend.store.keys(keys.WAITERS_ROOT)), timeout=10)
    bob.close()


@pytest.mark.interop
def test_the_sweep_catches_a_cli_sender(mount, backend: Backend, tracecraft) -> None:  # type: ignore[no-untyped-def]
    if backend.name != "s3":
        pytest.skip("the tracecraft CLI talks S3")
    m = mount("watcher", wait_timeout=120, extra=["--sweep", "3"])
    reader = blocked(m / "inbox/next")
    r = tracecraft("cli-agent", "send", "watcher", "from the CLI")
    assert r.returncode == 0, r.stderr
    assert not backend.store.exists(keys.bell_key("watcher"))  # the CLI rang nothing
    rc, out, err = finish(reader)
    assert (rc, out) == (0, "from the CLI\n"), err


@pytest.mark.parametrize("status", [503, 429])
def test_a_throttled_bell_never_fails_a_send(mount, backend: Backend, proxied, status) -> None:  # type: ignore[no-untyped-def]
    hook, refused = refuse(lambda r: r.method == "PUT" and keys.BELL_LEAF in r.target, status, 6)
    proxied.hook = hook
    sender = mount("sender", extra=["--endpoint", proxied.endpoint])
    watcher = mount("watcher", wait_timeout=120, extra=LONG_SWEEP)
    reader = blocked(watcher / "inbox/next")
    t0 = time.monotonic()
    r = sh(f"echo 'still sent' > {sender / 'outbox/watcher'}")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 5  # the ring is off the write's path
    rc, out, err = finish(reader, timeout=60)
    assert (rc, out) == (0, "still sent\n"), err
    assert refused["refused"] >= 1


def test_a_few_waits_never_list_all_steps(mount, backend: Backend, proxied) -> None:  # type: ignore[no-untyped-def]
    for i in range(30):  # a project with many steps
        Project(backend.store, "seed").steps.claim(f"other-{i}")
    m: Mount = mount("watcher", wait_timeout=15, extra=["--endpoint", proxied.endpoint])
    readers = [blocked(m / f"steps/dep-{i}/wait") for i in range(3)]
    inbox = blocked(m / "inbox/next")
    time.sleep(2)
    start = len(proxied.requests)
    time.sleep(8)
    window = proxied.requests[start:]
    lists = [r for r in window if "list-type" in r.target]
    assert not [r for r in lists if "prefix=proj%2Fsteps" in r.target], lists
    assert len(lists) <= 2, [r.target for r in lists]  # at most one sweep's worth
    gets = [r for r in window if r.method == "GET" and keys.BELL_LEAF in r.target]
    assert gets and len(window) <= 30, [r.target for r in window]
    for r in [*readers, inbox]:
        finish(r, timeout=40)
