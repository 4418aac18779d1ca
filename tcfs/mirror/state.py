"""The local state of one mirrored stream, kept across restarts.

A stream is (store, project, harness, session): the same session mirrored to
two projects or buckets is two streams with two state files.  Files live in
``<tcfs home>/mirror-state/``, are private (0600 in a 0700 directory) and are
replaced atomically.  Next to ``<name>.json``:

* ``<name>.lock``  - an ``flock`` held by the one process mirroring the stream;
* ``<name>.spool`` - the bytes of the part being uploaded (the crash window);
* ``<name>.seen``  - 8-byte digests of every line mirrored, used to drop
  records that a rewritten source repeats.  Only the first ``seen_count``
  entries are valid; anything after belongs to a part that never committed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from tcfs.config import tcfs_home, write_private

DIGEST = 8


def state_root() -> Path:
    return tcfs_home() / "mirror-state"


def line_digest(line: bytes) -> bytes:
    return hashlib.blake2b(line.rstrip(b"\r\n"), digest_size=DIGEST).digest()


@dataclass
class StreamState:
    cursor: dict[str, Any] | None = None
    next_seq: int = 0
    seen_count: int = 0
    pending: dict[str, Any] | None = None  # the part being uploaded, see engine
    meta: dict[str, Any] | None = None  # meta.json as last written
    meta_dirty: bool = False
    redact: dict[str, Any] = field(default_factory=dict)  # the redactor's carry-over
    dedupe_all: bool = False  # state was rebuilt from the bucket: drop repeats until caught up
    identity: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StreamState:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class StateFile:
    """The files of one stream under the state directory."""

    def __init__(self, identity: dict[str, Any], root: Path | None = None) -> None:
        self.identity = identity
        self.root = root or state_root()
        name = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]
        self.path = self.root / f"{name}.json"
        self.lock_path = self.root / f"{name}.lock"
        self.spool_path = self.root / f"{name}.spool"
        self.seen_path = self.root / f"{name}.seen"
        self._lock_fd: int | None = None

    def _ensure_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):
            os.chmod(self.root, 0o700)

    # ----- the lock: one mirror per stream -----

    def try_lock(self) -> bool:
        if self._lock_fd is not None:
            return True
        self._ensure_root()
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd
        return True

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None

    # ----- the state record -----

    def load(self) -> StreamState | None:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # unreadable state: rebuilt from the bucket, nothing lost
        if not isinstance(data, dict) or data.get("identity") != self.identity:
            return None
        try:
            return StreamState.from_dict(data)
        except TypeError:
            return None

    def save(self, state: StreamState) -> None:
        self._ensure_root()
        state.identity = self.identity
        write_private(self.path, json.dumps(asdict(state), sort_keys=True).encode())

    # ----- the spool: the bytes of the part in flight -----

    def write_spool(self, data: bytes) -> None:
        self._ensure_root()
        write_private(self.spool_path, data)

    def read_spool(self) -> bytes | None:
        try:
            return self.spool_path.read_bytes()
        except OSError:
            return None

    def drop_spool(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.spool_path.unlink()

    # ----- seen lines -----

    def append_seen(self, lines: Iterable[bytes], valid: int) -> int:
        """Record the digests of ``lines`` after the first ``valid`` entries;
        returns the new number of valid entries."""
        self._ensure_root()
        blob = b"".join(line_digest(line) for line in lines)
        fd = os.open(self.seen_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.ftruncate(fd, valid * DIGEST)
            os.lseek(fd, valid * DIGEST, os.SEEK_SET)
            view = memoryview(blob)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        return valid + len(blob) // DIGEST

    def load_seen(self, valid: int) -> Counter[bytes]:
        try:
            with open(self.seen_path, "rb") as f:
                blob = f.read(valid * DIGEST)
        except FileNotFoundError:
            return Counter()
        return Counter(blob[i : i + DIGEST] for i in range(0, len(blob) - DIGEST + 1, DIGEST))

    def remove(self) -> None:
        for p in (self.path, self.spool_path, self.seen_path):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
