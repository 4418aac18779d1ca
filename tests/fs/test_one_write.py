"""One write is one value, and a write that fails leaves nothing: real
commands on real mounts (a pipe, ``cp``, Python's buffered writer, appends
from two mounts at once, a full disk under a ``local`` bucket), counted in
the bucket itself (values, history entries, events)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcfs.protocol import keys
from tcfs.protocol.events.event import excerpt
from tcfs.protocol.events.reader import read_log
from tcfs.store.base import ObjectInfo, Store
from tests.support.mounts import Backend, Mount, eventually, sh

pytestmark = [pytest.mark.mount, pytest.mark.slow]

BIG = 300_000


def history(store: Store, dotted: str) -> list[str]:
    prefix = keys.memory_history_prefix(dotted.split("."))
    return [e.key for e in store.list(prefix) if isinstance(e, ObjectInfo)]


def has_value(store: Store, dotted: str) -> bool:
    return any(True for _ in store.list(keys.memory_key(dotted.split("."))))


def memory_events(store: Store, dotted: str) -> list[str]:
    """The values of the ``memory-set`` events of ``dotted`` logged so far."""
    evs, _ = read_log(store)
    return [
        str(e.detail.get("value")) for e in evs if e.kind == "memory-set" and e.subject == dotted
    ]


def logged_up_to(m: Mount, store: Store, marker: str) -> None:
    """Set ``marker`` and wait until its event is in the bucket: every event
    the mount recorded before it is written by then (batches go in order)."""
    out = sh(f"echo mark > {m.path}/memory/{marker.replace('.', '/')}")
    assert out.returncode == 0, out.stderr
    assert eventually(lambda: memory_events(store, marker) == ["mark"], timeout=20)


def run(cmd: str) -> subprocess.CompletedProcess[str]:
    out = sh(cmd, timeout=60)
    assert out.returncode == 0, f"{cmd}: {out.stderr}"
    return out


def test_a_value_written_in_many_writes_is_one_value_one_entry_one_event(
    mount, backend: Backend, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    m = mount("alice")
    source = tmp_path / "src.txt"
    source.write_text("c" * BIG)
    loop = "; ".join(f"echo line{i}" for i in range(5))
    py = tmp_path / "py.py"
    py.write_text(f"open('{m.path}/memory/py/v', 'w').write('b' * {BIG})\n")
    lines = tmp_path / "lines.py"
    lines.write_text(
        f"with open('{m.path}/memory/py/lines', 'w') as f:\n"
        "    for i in range(20000):\n"
        "        f.write(f'{i}\\n')\n"
    )
    commands = {
        "pipe.v": (f"head -c {BIG} /dev/zero | tr '\\0' a > {m.path}/memory/pipe/v", "a" * BIG),
        "cp.v": (f"cp {source} {m.path}/memory/cp/v", "c" * BIG),
        "py.v": (f"{sys.executable} {py}", "b" * BIG),
        # writes of any length (TextIOWrapper's chunks): several commits, one value
        "py.lines": (
            f"{sys.executable} {lines}",
            "\n".join(str(i) for i in range(20000)),
        ),
        # a write per line: each commits, later ones amend the first
        "loop.v": (
            f"{{ {loop}; }} > {m.path}/memory/loop/v",
            "\n".join(f"line{i}" for i in range(5)),
        ),
    }
    for cmd, _ in commands.values():
        run(cmd)
    logged_up_to(m, backend.store, "done.mark")
    for dotted, (cmd, value) in commands.items():
        path = m.path / "memory" / dotted.replace(".", "/")
        assert path.read_text() == value + "\n", cmd
        assert len(history(backend.store, dotted)) == 1, cmd
        assert memory_events(backend.store, dotted) == [excerpt(value)], cmd


def test_a_value_over_the_limit_leaves_nothing(mount, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    m = mount("alice")
    out = sh(f"head -c 2000000 /dev/zero | tr '\\0' a > {m.path}/memory/big/huge", timeout=60)
    assert out.returncode != 0 and "File too large" in out.stderr
    logged_up_to(m, backend.store, "done.mark")
    assert not has_value(backend.store, "big.huge")
    assert history(backend.store, "big.huge") == []
    assert memory_events(backend.store, "big.huge") == []
    assert not (m.path / "memory/big/huge").exists()


def test_binary_is_refused_and_leaves_no_key(mount, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    m = mount("alice")
    one = sh(f"printf 'ok\\xff\\xfe\\x00bin' > {m.path}/memory/x/bin")  # one write: its error
    assert one.returncode != 0 and "Invalid argument" in one.stderr
    blocks = sh(f"head -c 8192 /dev/urandom > {m.path}/memory/x/blocks")  # at close()
    assert blocks.returncode != 0 and "Invalid argument" in blocks.stderr
    logged_up_to(m, backend.store, "done.mark")
    for dotted in ("x.bin", "x.blocks"):
        assert not has_value(backend.store, dotted)
        assert history(backend.store, dotted) == []
        assert memory_events(backend.store, dotted) == []
    assert sorted(p.name for p in (m.path / "memory/x").iterdir()) == []


def test_appends_from_two_mounts_at_once_are_all_kept(mount, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    mounts = [mount("alice"), mount("bob")]
    procs = [
        subprocess.Popen(
            [
                "bash",
                "-c",
                f"for i in $(seq 100); do echo {m.agent}-$i >> {m.path}/memory/log/k"
                " || echo FAILED $i >&2; done",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for m in mounts
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert all("FAILED" not in err for _, err in outs), outs
    lines = (mounts[0].path / "memory/log/k").read_text().splitlines()
    assert sorted(lines) == sorted(f"{m.agent}-{i}" for m in mounts for i in range(1, 101))
    for m in mounts:  # each mount's own appends stay in order
        mine = [line for line in lines if line.startswith(f"{m.agent}-")]
        assert mine == [f"{m.agent}-{i}" for i in range(1, 101)]


def test_times_are_when_things_were_written(mount, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    backend.store.put(
        keys.memory_key(["old", "v"]),
        b'{"value": "old", "set_by": "cli", "set_at": "2021-03-04T05:06:07+00:00"}',
    )
    message = keys.append_key(keys.mailbox_prefix("alice"), "bob", ns=1614834367 * 10**9)
    backend.store.put(
        message,
        b'{"from": "bob", "to": "alice", "message": "hi", "sent_at": "2021-03-04T05:06:07Z"}',
    )
    m = mount("alice")
    time.sleep(2.5)  # the mount's start is now well in the past
    before = time.time()
    run(f"echo new > {m.path}/memory/now/v")
    times = run(f"stat -c '%Y %Z' {m.path}/memory/now/v {m.path}/memory/old/v").stdout.split()
    new_m, new_c, old_m, old_c = (int(t) for t in times)
    assert int(before) <= new_m <= time.time() + 1 and new_c == new_m
    assert old_m == old_c == 1614834367
    listed = run(f"ls -l --time-style=+%Y {m.path}/memory/old").stdout
    assert " 2021 " in listed
    inbox = run(f"stat -c %Y {m.path}/inbox/{keys.message_name(message)}").stdout
    assert int(inbox) == 1614834367

    # a step's status: when its record was written (a listing, a read, this mount's write)
    backend.store.put(
        keys.status_key("old"),
        b'{"status": "blocked", "agent": "cli", "started_at": "2021-03-04T05:06:07+00:00"}',
    )
    run(f"cat {m.path}/steps/old/status")
    time.sleep(0.3)  # past the 0.1 s the kernel keeps the attributes of the lookup
    assert int(run(f"stat -c %Y {m.path}/steps/old/status").stdout) == 1614834367
    run(f"echo alice > {m.path}/steps/now/claim; echo in_progress > {m.path}/steps/now/status")
    time.sleep(0.3)
    written = int(run(f"stat -c %Y {m.path}/steps/now/status").stdout)
    assert int(before) <= written <= time.time() + 1
    other = mount("bob")
    listed = run(f"ls -l --time-style=+%s {other.path}/steps/now/").stdout
    stamps = {line.split()[-1]: int(line.split()[-2]) for line in listed.splitlines()[1:]}
    assert abs(stamps["status"] - written) <= 2, listed  # a claim shows its last renewal


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs for a ``local`` bucket, unmounted at the end."""
    root = tmp_path / "tiny"
    root.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(root)],
        capture_output=True,
        timeout=20,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True, timeout=20)


@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_a_full_disk_is_no_space_and_leaves_nothing(
    mount, backend: Backend, full_disk: Path
) -> None:  # type: ignore[no-untyped-def]
    from tcfs.store.local import LocalStore

    # the last --bucket wins: the mount's bucket is the tmpfs
    m = mount("alice", extra=["--bucket", str(full_disk)])
    store = LocalStore(full_disk, "proj")
    subprocess.run(
        ["dd", "if=/dev/zero", f"of={full_disk}/filler", "bs=4k"], capture_output=True, timeout=20
    )
    for cmd in (
        f"echo hello > {m.path}/artifacts/shared/note.txt",
        f"echo v > {m.path}/memory/a/b",
        f"echo me > {m.path}/outbox/bob",
    ):
        out = sh(cmd)
        assert out.returncode != 0 and "No space left on device" in out.stderr, (cmd, out)
    time.sleep(0.5)  # a close's late work (an upload at release) would land by now
    assert not any(True for _ in store.list("artifacts/"))
    assert not any(True for _ in store.list("memory/"))
    assert not any(True for _ in store.list("messages/bob/"))
