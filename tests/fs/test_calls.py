"""One retry policy: the store retries, ``Calls`` derives its deadline from
the store's bound, and a write is never abandoned while its outcome is unknown."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import trio

from tcfs.errors import StoreTimeout, TemporaryFailure
from tcfs.fs.calls import READ_REQUESTS, Calls
from tcfs.protocol.sessions import SessionWriter
from tcfs.store.base import RetryPolicy
from tcfs.store.local import LocalStore
from tcfs.store.s3 import S3Store


def test_the_read_deadline_is_derived_from_the_stores_policy(tmp_path: Path) -> None:
    quick = RetryPolicy(attempts=2, deadline=1.0)
    slow = RetryPolicy(attempts=9, deadline=50.0)
    for policy in (quick, slow):
        store = S3Store("b", "p", endpoint="http://127.0.0.1:9", retry=policy)
        calls = Calls.for_store(store)
        # the store gives up on a request before the mount gives up on the call
        assert calls.timeout == READ_REQUESTS * (policy.deadline + store.attempt_timeout_s)
        store.close()
    local = Calls.for_store(LocalStore(tmp_path, "p"))
    assert local.timeout >= LocalStore.attempt_timeout_s


def test_a_read_is_abandoned_at_its_deadline_but_a_write_is_waited_for() -> None:
    release = threading.Event()

    def blocked() -> str:
        release.wait(30)
        return "done"

    async def main() -> tuple[str, str]:
        calls = Calls(timeout=0.05)
        with pytest.raises(StoreTimeout):
            await calls.run(blocked)
        async with trio.open_nursery() as nursery:
            results: list[str] = []

            async def write() -> None:
                results.append(await calls.write(blocked))

            nursery.start_soon(write)
            await trio.sleep(0.2)  # well past the deadline: still waiting, not abandoned
            assert results == []
            release.set()
        return results[0], "ok"

    assert trio.run(main) == ("done", "ok")


class FlakyStore(LocalStore):
    """A real local bucket whose PUTs fail temporarily; counts them."""

    puts = 0

    def put(self, key: str, body: bytes, **kw: object) -> str:  # type: ignore[override]
        self.puts += 1
        raise TemporaryFailure("throttled")


def test_the_session_writer_leaves_retries_to_the_store(tmp_path: Path) -> None:
    store = FlakyStore(tmp_path, "p")
    writer = SessionWriter(store, "codex", "s1")
    with pytest.raises(TemporaryFailure):
        writer.put_part(writer.new_part_key(0), b"{}\n")
    assert store.puts == 1  # the store's own policy is the only retry loop
