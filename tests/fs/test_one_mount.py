"""One agent, one mount: a second mount of an agent id is refused, naming the
first, so the agent's event log never forks; an unmounted or killed first
mount gives the id back (the killed one with ``--takeover``), and
``tcfs replay --verify`` passes at the end."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tcfs.errors import AgentMounted, IdentityLost
from tcfs.protocol import keys
from tcfs.protocol.agents import Agents, Holder
from tcfs.protocol.events.reader import read_log
from tcfs.protocol.events.writer import EventWriter
from tests.support.mounts import Backend, Mount, detach, eventually, sh

pytestmark = pytest.mark.mount


def tcfs(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tcfs", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def second_mount(backend: Backend, mnt: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``tcfs mount`` of alice at ``mnt`` (its own foreground daemon, so a
    refusal is its exit status and its message)."""
    mnt.mkdir(exist_ok=True)
    args = ["mount", str(mnt), "--foreground", "--project", "proj", "--agent", "alice"]
    return tcfs(*args, *backend.args, *extra)


def agent_ups(backend: Backend) -> list[str]:
    events, _ = read_log(backend.store)
    return [str(e.detail.get("how")) for e in events if e.agent == "alice" and e.kind == "agent-up"]


def first_mount(mount: Callable[..., Mount], backend: Backend, *extra: str) -> Mount:
    """alice's mount, once it wrote a value and the events of both."""
    first = mount("alice", extra=list(extra))
    assert sh(f"echo v > {first / 'memory/notes/k'}").returncode == 0
    assert eventually(lambda: len(agent_ups(backend)) == 1 and memory_sets(backend) == ["notes.k"])
    return first


def memory_sets(backend: Backend) -> list[str]:
    events, _ = read_log(backend.store)
    return [str(e.subject) for e in events if e.agent == "alice" and e.kind == "memory-set"]


def verify(backend: Backend) -> subprocess.CompletedProcess[str]:
    return tcfs("replay", "--verify", "--project", "proj", *backend.args)


@pytest.mark.mount
def test_a_second_mount_is_refused_naming_the_first(  # type: ignore[no-untyped-def]
    mount, backend: Backend, tmp_path: Path
) -> None:
    first = first_mount(mount, backend)

    out = second_mount(backend, tmp_path / "second")
    assert out.returncode != 0
    assert str(first.path) in out.stderr and f"pid {first.proc.pid}" in out.stderr, out.stderr
    assert "--takeover" in out.stderr and "tcfs umount" in out.stderr
    assert first.proc.poll() is None  # the first mount is untouched
    assert sh(f"echo w > {first / 'memory/notes/k'}").returncode == 0

    detach(first.path, first.proc)  # a clean unmount gives the id back
    assert Holder.of(json.loads(backend.store.get(keys.agent_key("alice")).body)) is None
    again = mount("alice", name="again")
    assert sh(f"cat {again / 'memory/notes/k'}").stdout == "w\n"
    detach(again.path, again.proc)
    # the refused mount wrote no event: one agent-up per mount that came up
    assert agent_ups(backend) == ["mounted", "mounted"]
    out = verify(backend)
    assert out.returncode == 0 and "alice" in out.stdout, out.stdout


@pytest.mark.mount
def test_a_killed_mount_is_taken_over_with_takeover(  # type: ignore[no-untyped-def]
    mount, backend: Backend, tmp_path: Path
) -> None:
    first = first_mount(mount, backend)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(timeout=10)
    detach(first.path, None)

    out = second_mount(backend, tmp_path / "second")
    assert out.returncode != 0 and "--takeover" in out.stderr, out.stderr
    taken: Mount = mount("alice", name="taken", extra=["--takeover"])
    assert sh(f"echo w > {taken / 'memory/notes/k'}").returncode == 0
    detach(taken.path, taken.proc)
    ups = agent_ups(backend)
    assert len(ups) == 2 and "taking over from" in ups[1] and str(first.path) in ups[1], ups
    out = verify(backend)
    assert out.returncode == 0, out.stdout


@pytest.mark.mount
def test_a_stopped_mount_is_taken_over_after_its_heartbeat_window_and_stops_writing(  # type: ignore[no-untyped-def]
    mount, backend: Backend, tmp_path: Path
) -> None:
    """The holder's daemon runs (SIGSTOP: no heartbeat, as on a machine cut
    off), so only the window proves it gone: its record unchanged for 1.5 of
    its 2 s heartbeats.  Once resumed, it finds its id taken over, says so,
    and writes no event: the chain does not fork."""
    first = first_mount(mount, backend, "--heartbeat", "2")
    first.proc.send_signal(signal.SIGSTOP)
    try:
        out = second_mount(backend, tmp_path / "refused")
        assert out.returncode != 0 and "--takeover" in out.stderr, out.stderr
        taken = mount("alice", name="taken", extra=["--takeover", "--heartbeat", "2"])
    finally:
        first.proc.send_signal(signal.SIGCONT)
    assert eventually(lambda: "STOPPED" in (first / "why").read_text())
    assert "taken over by the mount at" in (first / "why").read_text()

    def status_says_so() -> bool:
        rows = {r["mountpoint"]: r for r in json.loads(tcfs("status", "--json").stdout)}
        return str(taken.path) in (rows[str(first.path)]["problem"] or "")

    assert eventually(status_says_so, timeout=10)
    assert any(" ERROR " in ln and "taken over" in ln for ln in first.log_text().splitlines())

    assert sh(f"echo a > {first / 'memory/notes/from-first'}").returncode == 0
    assert sh(f"echo b > {taken / 'memory/notes/from-taken'}").returncode == 0
    assert eventually(lambda: "notes.from-taken" in memory_sets(backend))
    detach(first.path, first.proc)
    detach(taken.path, taken.proc)
    assert memory_sets(backend) == ["notes.k", "notes.from-taken"]
    ups = agent_ups(backend)
    assert len(ups) == 2 and str(first.path) in ups[1], ups
    out = verify(backend)
    assert out.returncode == 0, out.stdout


# ----- the claim itself, on a store (no mount): the other host's cases -----


def holder(host: str = "elsewhere") -> Holder:
    return Holder.new(host, "/mnt/tc", 4242, 120.0)


class Clock:
    """A monotonic clock that ``sleep`` advances, and something to do while asleep."""

    def __init__(self, during_sleep: Any = None) -> None:
        self.now = 0.0
        self.during_sleep = during_sleep

    def sleep(self, s: float) -> None:
        self.now += s
        if self.during_sleep:
            self.during_sleep()

    def monotonic(self) -> float:
        return self.now


def test_a_takeover_waits_a_heartbeat_window_and_is_refused_by_a_live_holder(
    store: Any,
) -> None:
    first = Agents(store, "alice")
    first.claim("one", holder())
    # another host's mount that heartbeats while we watch is alive
    clock = Clock(during_sleep=lambda: first.heartbeat())
    second = Agents(store, "alice")
    with pytest.raises(AgentMounted, match="alive"):
        second.claim(
            "two", holder("here"), takeover=True, sleep=clock.sleep, monotonic=clock.monotonic
        )
    # one whose record stays unchanged for 1.5 heartbeats is gone
    clock = Clock()
    assert (
        second.claim(
            "two", holder("here"), takeover=True, sleep=clock.sleep, monotonic=clock.monotonic
        )
        == first.holder
    )
    assert clock.now >= 180.0
    # the first learns at its next heartbeat that the id is not its own
    with pytest.raises(IdentityLost, match="taken over by the mount at here:/mnt/tc"):
        first.heartbeat()
    second.heartbeat()  # the new holder's heartbeat goes on
    first.release()  # and the old one's release leaves its record alone
    record = json.loads(store.get(keys.agent_key("alice")).body)
    assert Holder.of(record) == second.holder


def test_a_stopped_event_writer_writes_nothing(atomic_store: Any) -> None:
    events = EventWriter(atomic_store, "alice")
    events.emit("agent-up", how="mounted")
    events.flush()
    events.stop()
    events.emit("memory-set", "a.b", value="x")
    events.close()
    assert [e.kind for e in read_log(atomic_store)[0]] == ["agent-up"]


def test_a_malformed_record_is_claimed_over(store: Any) -> None:
    store.put(keys.agent_key("alice"), b"not json")
    agents = Agents(store, "alice")
    assert agents.claim("one", holder()) is None
    assert Holder.of(json.loads(store.get(keys.agent_key("alice")).body)) == agents.holder
