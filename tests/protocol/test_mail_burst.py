"""Exactly-once mail under a burst far above the cursor's ``seen`` cap.

5,000 messages (1,500 on moto) land on one agent while readers drain them at
once: the mount's ``inbox/next`` (``take_next``) and a hook's ``inbox/unread``
+ ``inbox/ack`` in one process, and (on the local store, where a message costs
microseconds, not moto's milliseconds) ``inbox/next`` of a second process (its
own ``Messages``), while the burst is still landing.  Every message is
delivered exactly once and none is left behind.  With the late window at 0 (a
burst older than it), the watermark folds ``seen`` under the CLI's cap, and
the real CLI then sees nothing new either.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tcfs.errors import Contention
from tcfs.protocol import keys, messages
from tcfs.protocol.messages import Messages
from tcfs.store.base import Store
from tests.support.stores import make_store

BURST = 5000
#: on moto, whose every request takes milliseconds on a loaded machine: still
#: half again the CLI's cap of 1,000 keys
BURST_S3 = 1500
DEADLINE_S = 240.0


def _send_burst(store: Store, count: int) -> set[str]:
    alice = Messages(store, "alice")
    with ThreadPoolExecutor(8) as pool:
        return set(pool.map(lambda i: alice.send("bob", f"m{i}").name, range(count)))


def _drain(store: Store, sent: threading.Event, burst: int) -> Counter[str]:
    """The readers, until all is read; each name counted per delivery."""
    mine, other = Messages(store, "bob"), Messages(store, "bob")
    got: Counter[str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + DEADLINE_S

    def count(names: list[str]) -> None:
        with lock:
            got.update(names)

    def done() -> bool:
        with lock:
            return sum(got.values()) >= burst or time.monotonic() > deadline

    def next_reader(msgs: Messages) -> None:
        while not done():
            msg, _ = msgs.take_next()
            if msg is not None:
                count([msg.name])
            else:
                time.sleep(0.05)

    def hook() -> None:
        while not done():
            held = mine.reserve_unread(50)
            if not held:
                time.sleep(0.05)
                continue
            try:
                count(mine.ack([m.name for m in held]))
            except Contention:  # EAGAIN, as a hook meets it: the next call delivers them
                mine.holds.release(m.name for m in held)

    readers = [
        threading.Thread(target=next_reader, args=(mine,)),
        threading.Thread(target=hook),
    ]
    if store.kind == "local":
        readers.append(threading.Thread(target=next_reader, args=(other,)))
    for t in readers:
        t.start()
    for t in readers:
        t.join(DEADLINE_S + 30)
    assert not any(t.is_alive() for t in readers), "a reader hangs"
    return got


@pytest.mark.slow  # thousands of messages: `make test`, not `make check`
@pytest.mark.parametrize("backend", ["local", "s3"])
@pytest.mark.parametrize("late_s", [messages.LATE_NS // 1_000_000_000, 0])
def test_burst_is_delivered_exactly_once(
    backend: str, late_s: int, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messages, "LATE_NS", late_s * 1_000_000_000)
    store = make_store(backend, request)
    burst = BURST_S3 if backend == "s3" else BURST
    try:
        sent_all = threading.Event()
        names: set[str] = set()

        def send() -> None:
            names.update(_send_burst(store, burst))
            sent_all.set()

        sender = threading.Thread(target=send)
        sender.start()
        got = _drain(store, sent_all, burst)
        sender.join(60)
        twice = {n: c for n, c in got.items() if c > 1}
        assert not twice, f"{len(twice)} delivered more than once"
        assert set(got) == names and len(names) == burst, f"{len(names - set(got))} lost"
        reader = Messages(store, "bob")
        assert reader.take_next() == (None, False) and reader.unread() == []  # none stuck
        cursor = reader._read_cursor(keys.cursor_key("bob"))[0] or {}
        seen = cursor["direct"]["seen"]
        if late_s == 0:
            assert len(seen) <= messages.SEEN_CAP  # what the CLI keeps whole
    finally:
        store.close()


def test_cli_reads_a_folded_cursor(
    moto_server, s3_bucket, tracecraft, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """After a burst above the cap read by tcfs, ``tracecraft inbox --new``
    shows nothing new and leaves nothing for tcfs to deliver twice."""
    from tcfs.store.s3 import S3Store

    monkeypatch.setattr(messages, "LATE_NS", 0)
    store = S3Store(
        s3_bucket, "proj", endpoint=moto_server.endpoint, region="us-east-1", path_style=True
    )
    try:
        _send_burst(store, 1200)
        bob = Messages(store, "bob")
        assert len(bob.ack([m.name for m in bob.unread()])) == 1200
        out = tracecraft("bob", "inbox", "--new")
        assert out.returncode == 0, out.stderr
        assert "m1" not in out.stdout, out.stdout[:500]
        assert bob.take_next() == (None, False) and bob.unread() == []
    finally:
        store.close()
