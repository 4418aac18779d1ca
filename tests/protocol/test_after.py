"""After-the-answer work: ordered per subject, independent across subjects, bounded."""

from __future__ import annotations

import threading
import time

import pytest

from tcfs.errors import StoreError
from tcfs.protocol import Project
from tcfs.protocol.after import AfterAnswer
from tcfs.protocol.parallel import both
from tcfs.store.local import LocalStore


@pytest.fixture
def after():  # type: ignore[no-untyped-def]
    q = AfterAnswer(threads=4)
    yield q
    q.close(timeout=10)


def test_one_subject_runs_in_submission_order(after: AfterAnswer) -> None:
    seen: list[int] = []

    def job(i: int) -> None:
        time.sleep(0.002 * (i % 3))  # uneven durations: order must not depend on them
        seen.append(i)

    for i in range(40):
        after.submit("step-a", lambda i=i: job(i))
    assert after.settle("step-a", timeout=30)
    assert seen == list(range(40))
    assert not after.pending("step-a")


def test_a_blocked_subject_does_not_hold_up_another(after: AfterAnswer) -> None:
    gate = threading.Event()
    done: list[str] = []
    after.submit("slow", lambda: gate.wait(30))
    after.submit("slow", lambda: done.append("slow"))
    after.submit("fast", lambda: done.append("fast"))
    assert after.settle("fast", timeout=30)
    assert done == ["fast"] and after.pending("slow")
    assert not after.settle("slow", timeout=0.05)  # bounded: answers while still blocked
    gate.set()
    assert after.settle("slow", timeout=30)
    assert done == ["fast", "slow"]


def test_a_failing_call_is_counted_and_the_queue_goes_on(after: AfterAnswer) -> None:
    seen: list[str] = []

    def boom() -> None:
        raise StoreError("the bucket said no")

    after.submit("s", boom)
    after.submit("s", lambda: 1 / 0)
    after.submit("s", lambda: seen.append("next"))
    assert after.settle("s", timeout=30)
    assert seen == ["next"] and after.failed == 2


def test_settle_on_an_idle_subject_is_free(after: AfterAnswer) -> None:
    assert after.settle("never-used", timeout=0)


def test_close_is_bounded_and_refuses_more_work() -> None:
    q = AfterAnswer(threads=2)
    gate = threading.Event()
    q.submit("s", lambda: gate.wait(30))
    assert q.close(timeout=0.1) is False  # still running: reported, not waited for
    with pytest.raises(RuntimeError):
        q.submit("s", lambda: None)
    gate.set()


def test_both_runs_the_two_calls_at_once() -> None:
    barrier = threading.Barrier(2, timeout=30)  # only passes if both run at the same time
    a, b = both(lambda: barrier.wait() + 10, lambda: barrier.wait() + 20)
    assert {a - 10, b - 20} == {0, 1}


def test_both_waits_for_the_other_call_before_raising() -> None:
    finished = threading.Event()

    def slow() -> str:
        time.sleep(0.05)
        finished.set()
        return "late"

    def fail() -> str:
        raise StoreError("first one failed")

    with pytest.raises(StoreError):
        both(fail, slow)
    assert finished.is_set()
    with pytest.raises(StoreError):
        both(lambda: "fine", fail)


class _HeldStatusStore(LocalStore):
    """Holds back status writes sent from the after-the-answer threads until ``gate`` opens."""

    def __init__(self, *a, **k) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*a, **k)
        self.gate = threading.Event()

    def put(self, key: str, body: bytes, **kw) -> str:  # type: ignore[no-untyped-def]
        if key.endswith("status.json") and threading.current_thread().name.startswith("tcfs-after"):
            assert self.gate.wait(30)
        return super().put(key, body, **kw)


def test_a_later_status_waits_for_the_claims_own(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = _HeldStatusStore(tmp_path / "bucket", "proj")
    after = AfterAnswer()
    steps = Project(store, "alice", after=after).steps
    try:
        steps.claim("s1")  # answers at once: its in_progress status is held back
        assert steps.status("s1").status == "in_progress"  # the claim alone says so
        done = threading.Event()

        def complete() -> None:
            steps.set_status("s1", "complete")
            done.set()

        threading.Thread(target=complete, daemon=True).start()
        assert not done.wait(0.3)  # waits for the status queued before it
        store.gate.set()
        assert done.wait(30)
        assert steps.status("s1").status == "complete"  # never overtaken by in_progress
    finally:
        store.gate.set()
        after.close(timeout=30)
