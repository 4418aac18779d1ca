"""Round trips on a real mount: what goes out after the answer keeps its order,
answers that are reused never hide another agent's change."""

from __future__ import annotations

import json

import pytest

from tests.support.mounts import Backend, detach, eventually, sh

pytestmark = pytest.mark.mount


def _record(backend: Backend, key: str) -> dict[str, object] | None:
    from tcfs.errors import NotFound

    try:
        doc = json.loads(backend.store.get(key).body)
    except NotFound:
        return None
    assert isinstance(doc, dict)
    return doc


def test_a_status_right_after_a_claim_is_never_overtaken(mount, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    a = mount("alice")
    for i in range(5):
        # the claim's in_progress status goes out after the answer; the holder's
        # own `complete`, one command later, must still land last
        r = sh(f"echo me > {a.path}/steps/s{i}/claim && echo complete > {a.path}/steps/s{i}/status")
        assert r.returncode == 0, r.stderr
    detach(a.path, a.proc)  # the daemon sends what it queued before it exits
    for i in range(5):
        doc = _record(backend, f"steps/s{i}/status.json")
        assert doc is not None and doc["status"] == "complete", doc


def test_a_claim_queued_at_unmount_still_gets_its_status(mount, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    a = mount("alice")
    assert sh(f"echo me > {a.path}/steps/late/claim").returncode == 0
    detach(a.path, a.proc)
    doc = _record(backend, "steps/late/status.json")
    assert doc is not None and doc["status"] == "in_progress" and doc["agent"] == "alice"


def test_a_lost_claim_names_the_holder_and_a_released_step_is_won(mount, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    a, b = mount("alice"), mount("bob")
    assert sh(f"echo me > {a.path}/steps/s/claim").returncode == 0
    lost = sh(f"echo me > {b.path}/steps/s/claim")
    assert lost.returncode != 0 and "exists" in lost.stderr.lower()
    # the lookup's answer is only reused by the open of the same command: after
    # the release, the next claim sees the step free
    assert sh(f"rm {a.path}/steps/s/claim").returncode == 0
    won = sh(f"echo me > {b.path}/steps/s/claim")
    assert won.returncode == 0, won.stderr
    assert "agent: bob" in sh(f"cat {a.path}/steps/s/claim").stdout


def test_a_handoff_writes_status_and_record(mount, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    a, b = mount("alice"), mount("bob")
    assert (
        sh(f"echo me > {a.path}/steps/h/claim && echo done > {a.path}/steps/h/handoff").returncode
        == 0
    )
    assert sh(f"cat {b.path}/steps/h/status").stdout == "complete\n"
    assert json.loads(sh(f"cat {b.path}/steps/h/handoff").stdout)["note"] == "done"
    # a second handoff by the holder replaces the first (its create-only PUT
    # fails, then it swaps on the record it reads)
    assert sh(f"echo again > {a.path}/steps/h/handoff").returncode == 0
    assert json.loads(sh(f"cat {b.path}/steps/h/handoff").stdout)["note"] == "again"
    assert sh(f"echo no > {b.path}/steps/h/handoff").returncode != 0  # not the holder


def test_a_one_part_key_written_by_another_tool_is_a_file(mount, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    backend.store.put("memory/solo.json", b'{"value": "one part", "set_by": "cli"}')
    a = mount("alice")
    assert sh(f"cat {a.path}/memory/solo").stdout == "one part\n"
    assert sh(f"echo v > {a.path}/memory/ns/k && cat {a.path}/memory/ns/k").stdout == "v\n"
    # a new key in a namespace this mount just looked at: no stale negative answer
    backend.store.put("memory/ns/other.json", b'{"value": "from elsewhere", "set_by": "cli"}')
    assert eventually(lambda: sh(f"cat {a.path}/memory/ns/other").stdout == "from elsewhere\n")
