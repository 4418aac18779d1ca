"""The event log at the protocol level, on the local directory and on S3 (moto).

Batches, the per-agent hash chain across restarts, deduplication, the tail's
view of late writers, verification of gaps, edits and forgeries, and the
writer's behaviour while the bucket is unreachable.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from tcfs.protocol import keys
from tcfs.protocol.events.event import EXCERPT, KINDS, Event
from tcfs.protocol.events.reader import EventTail, read_log
from tcfs.protocol.events.verify import verify
from tcfs.protocol.events.writer import MAX_BATCH, EventWriter
from tcfs.store.base import ObjectInfo, Store
from tcfs.store.s3 import S3Store
from tests.support.s3server import MotoServer


def batch_objects(store: Store) -> list[str]:
    return [e.key for e in store.list(keys.EVENTS_ROOT) if isinstance(e, ObjectInfo)]


def write(store: Store, agent: str, n: int, kind: str = "status") -> EventWriter:
    w = EventWriter(store, agent)
    for i in range(n):
        w.emit(kind, f"s{i}", epoch=i, status="complete")
    assert w.flush()
    return w


def test_a_flush_writes_one_batch_and_the_chain_verifies(atomic_store: Store) -> None:
    w = write(atomic_store, "dev", 50)
    assert w.batches == 1 and w.written == 50
    assert len(batch_objects(atomic_store)) == 1
    got, malformed = read_log(atomic_store)
    assert malformed == []
    assert [e.seq for e in got] == list(range(50))
    assert [e.subject for e in got] == [f"s{i}" for i in range(50)]
    assert got[1].prev == got[0].hash and got[0].prev is None
    assert verify(got) == []


def test_big_queues_are_split_into_bounded_batches(atomic_store: Store) -> None:
    write(atomic_store, "dev", MAX_BATCH * 2 + 1)
    assert len(batch_objects(atomic_store)) == 3
    got, _ = read_log(atomic_store)
    assert len(got) == MAX_BATCH * 2 + 1 and verify(got) == []


def test_a_restarted_writer_continues_its_chain(atomic_store: Store) -> None:
    write(atomic_store, "dev", 3)
    write(atomic_store, "other", 2)
    write(atomic_store, "dev", 2)
    got, _ = read_log(atomic_store)
    dev = [e for e in got if e.agent == "dev"]
    assert [e.seq for e in dev] == [0, 1, 2, 3, 4]
    assert dev[3].prev == dev[2].hash
    assert verify(got) == []


def test_emit_is_cheap_and_close_flushes(atomic_store: Store) -> None:
    w = EventWriter(atomic_store, "dev", interval=30)
    w.start()
    t0 = time.perf_counter()
    for i in range(1000):
        w.emit("send", "planner", text=f"hello {i}", key=f"messages/planner/{i}")
    per_emit = (time.perf_counter() - t0) / 1000
    assert per_emit < 0.001, f"{per_emit * 1e6:.0f} µs per emit"
    assert batch_objects(atomic_store) == []  # nothing written on the caller's path
    w.close(timeout=20)
    got, _ = read_log(atomic_store)
    assert len(got) == 1000 and w.pending() == 0


def test_duplicate_batches_are_read_once(atomic_store: Store) -> None:
    write(atomic_store, "dev", 4)
    (key,) = batch_objects(atomic_store)
    atomic_store.put(keys.event_batch_key("dev"), atomic_store.get(key).body)  # a re-sent batch
    got, _ = read_log(atomic_store)
    assert len(got) == 4 and verify(got) == []


def test_the_writer_survives_an_unreachable_bucket(moto_server: MotoServer) -> None:
    """While the bucket is missing, emit neither raises nor blocks and the batch
    is kept; once it exists the same batch is written, chain intact."""
    name = f"late-{time.time_ns()}"
    store = S3Store(
        name, "proj", endpoint=moto_server.endpoint, region="us-east-1", path_style=True
    )
    try:
        w = EventWriter(store, "dev")
        w.emit("claim", "api", epoch=1, lease_s=60)
        assert w.flush() is False
        w.emit("status", "api", epoch=1, status="complete")
        assert w.pending() == 2
        moto_server.client().create_bucket(Bucket=name)
        assert w.flush() is True
        got, _ = read_log(store)
        assert [e.kind for e in got] == ["claim", "status"]
        assert verify(got) == []
    finally:
        store.close()


def test_tail_returns_history_then_only_what_is_new(atomic_store: Store) -> None:
    write(atomic_store, "dev", 2)
    tail = EventTail(atomic_store, cli_every=3600)
    assert [e.seq for e in tail.poll()] == [0, 1]
    assert tail.poll() == []
    w = EventWriter(atomic_store, "qa")
    w.emit("claim", "api", epoch=7, lease_s=60)
    w.flush()
    new = tail.poll()
    assert [(e.agent, e.kind, e.subject) for e in new] == [("qa", "claim", "api")]
    assert tail.poll() == []


def test_tail_sees_a_writer_whose_clock_lags(atomic_store: Store) -> None:
    write(atomic_store, "dev", 1)
    tail = EventTail(atomic_store, cli_every=3600)
    tail.poll()
    # a batch stamped 2 s before the newest key the tail has seen
    lag = keys.key_ts_ns(batch_objects(atomic_store)[0], keys.EVENTS_ROOT) or 0
    ev = Event("x", time.time(), "slow", "release", "api", seq=0)
    ev = replace(ev, hash=ev.compute_hash())
    body = json.dumps({"schema": 1, "agent": "slow", "events": [ev.to_json()]}).encode()
    atomic_store.put(keys.event_batch_key("slow", lag - 2_000_000_000), body)
    assert [e.agent for e in tail.poll()] == ["slow"]


def _rewrite(store: Store, key: str, change) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(store.get(key).body)
    change(doc["events"])
    store.put(key, json.dumps(doc).encode())


def test_verify_names_an_edit(atomic_store: Store) -> None:
    write(atomic_store, "dev", 3)
    (key,) = batch_objects(atomic_store)

    def edit(evs: list[dict[str, object]]) -> None:
        evs[1]["detail"] = {"status": "blocked"}

    _rewrite(atomic_store, key, edit)
    problems = verify(*read_log(atomic_store))
    assert [(p.agent, p.what) for p in problems] == [("dev", "edited")]
    assert "#1" in problems[0].message


def test_verify_names_a_gap(atomic_store: Store) -> None:
    w = EventWriter(atomic_store, "dev")
    for batch in range(3):
        w.emit("status", f"s{batch}", status="in_progress")
        w.flush()
    middle = batch_objects(atomic_store)[1]
    atomic_store.delete(middle)
    problems = verify(*read_log(atomic_store))
    assert [(p.what, p.message.split(" (")[0]) for p in problems] == [
        ("gap", "events #1 are missing")
    ]


def test_verify_names_a_forged_event(atomic_store: Store) -> None:
    """A forger can compute a valid hash but cannot make it the one the next
    real event already names, nor take a sequence number without a fork."""
    w = write(atomic_store, "dev", 2)  # the real agent, still running
    (key,) = batch_objects(atomic_store)

    def forge(evs: list[dict[str, object]]) -> None:
        fake = Event(
            id="0_dev_forged00",
            ts=time.time(),
            agent="dev",
            kind="release",
            subject="api",
            seq=1,
            prev=str(evs[0]["hash"]),
        )
        evs[1] = {**fake.to_json(), "hash": fake.compute_hash()}

    _rewrite(atomic_store, key, forge)
    w.emit("status", "api", status="complete")
    w.flush()
    problems = verify(*read_log(atomic_store))
    assert [p.what for p in problems] == ["broken"]
    assert "#2" in problems[0].message


def test_verify_names_an_event_in_another_agents_batch(atomic_store: Store) -> None:
    write(atomic_store, "dev", 1)
    (key,) = batch_objects(atomic_store)
    atomic_store.put(keys.event_batch_key("mallory"), atomic_store.get(key).body)
    atomic_store.delete(key)
    problems = verify(*read_log(atomic_store))
    assert [p.what for p in problems] == ["misfiled"]


def test_malformed_batches_are_reported_and_the_rest_is_read(atomic_store: Store) -> None:
    write(atomic_store, "dev", 2)
    atomic_store.put(keys.event_batch_key("junk"), b"{not json")
    atomic_store.put(keys.event_batch_key("odd"), b'{"events": [1, {"id": 3}]}')
    atomic_store.put(keys.EVENTS_ROOT + "notes.txt", b"foreign object")
    got, malformed = read_log(atomic_store)
    assert len(got) == 2
    assert len(malformed) == 3 and any("not valid JSON" in m for m in malformed)
    assert {p.what for p in verify(got, malformed)} == {"malformed"}


def test_lines_are_readable_and_never_carry_control_characters() -> None:
    ev = Event("1_dev_00000000", 3600 * 8 + 61 + 11, "dev", "claim", "api", epoch=17)
    ev = replace(ev, detail={"lease_s": 60.0})
    assert ev.line() == "08:01:12 dev claimed api (epoch 17, lease 60 s)"
    hostile = Event("2_x_00000000", 0, "x", "send", "bob", detail={"text": "hi\x1b[2J\nbye\x9b"})
    line = hostile.line()
    assert "\x1b" not in line and "\n" not in line and "\x9b" not in line
    assert '"hi\\u001b[2J\\nbye\\x9b"' in line
    mem = Event("3_x_00000000", 0, "x", "memory-set", "a.b", detail={"old": "1", "value": "2"})
    assert mem.line().endswith('set memory a.b = "1" → "2"')
    cli = Event("cli:k", 0, "bob", "broadcast", detail={"text": "hey"}, source="cli")
    assert cli.line() == '00:00:00 bob broadcast "hey" [tracecraft CLI]'


def test_long_detail_values_are_cut(atomic_store: Store) -> None:
    w = EventWriter(atomic_store, "dev")
    w.emit("memory-set", "a.b", value="x" * 100_000, size=100_000)
    w.flush()
    (ev,) = read_log(atomic_store)[0]
    assert len(str(ev.detail["value"])) == EXCERPT and ev.detail["size"] == 100_000


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_words(kind: str) -> None:
    ev = Event("1_a_00000000", 0, "a", kind, "s")
    assert not ev.line().endswith(f"{kind} s"), ev.line()
