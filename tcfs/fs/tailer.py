"""Fresh sizes for open transcripts, so ``tail -f`` sees them grow.

GNU ``tail -f`` on FUSE ``fstat``s its file about once a second and reads when
the size grew.  The tailer keeps, for each open session file, the parts list
of its last LIST; about once a second it LISTs each tracked session once and,
when the size changed, tells the kernel to drop its cached attributes
(``invalidate`` runs in a worker thread: it may wait on the kernel, and a
handler that waited on it could deadlock the mount).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from tcfs.errors import NotFound, TcfsError

if TYPE_CHECKING:
    from tcfs.fs.calls import Calls
    from tcfs.protocol.sessions import Part, SessionReader

log = logging.getLogger(__name__)

TAIL_INTERVAL_S = 1.0
INVALIDATE_TIMEOUT_S = 5.0


@dataclass
class _Tracked:
    harness: str
    session: str
    parts: list[Part] = field(default_factory=list)
    size: int = 0
    refs: int = 0
    refreshed_at: float = -1e9


def total_size(parts: list[Part]) -> int:
    if not parts:
        return 0
    last = parts[-1]
    return last.offset + last.size


class Tailer:
    def __init__(
        self,
        reader: SessionReader | None,
        calls: Calls,
        invalidate: Callable[[int], None] | None = None,
        *,
        interval: float = TAIL_INTERVAL_S,
    ) -> None:
        self.reader = reader
        self.calls = calls
        self.invalidate = invalidate
        self.interval = interval
        self._tracked: dict[int, _Tracked] = {}
        self._wake = trio.Event()

    async def parts(self, harness: str, session: str) -> list[Part]:
        """The parts of one session (one LIST); ``NotFound`` if it has none."""
        if self.reader is None:
            raise NotFound("sessions are not available on this mount")
        parts = await self.calls.run(self.reader.parts, harness, session)
        if not parts:
            raise NotFound(f"no session {harness}/{session}")
        return list(parts)

    def size(self, ino: int) -> int | None:
        t = self._tracked.get(ino)
        return None if t is None else t.size

    def track(self, ino: int, harness: str, session: str, parts: list[Part]) -> None:
        t = self._tracked.get(ino)
        if t is None:
            t = self._tracked[ino] = _Tracked(harness, session)
            t.parts, t.size = parts, total_size(parts)
            t.refreshed_at = trio.current_time()
        t.refs += 1
        self._wake.set()

    def untrack(self, ino: int) -> None:
        t = self._tracked.get(ino)
        if t is not None:
            t.refs -= 1
            if t.refs <= 0:
                del self._tracked[ino]

    async def _refresh(self, t: _Tracked) -> bool:
        try:
            parts = await self.parts(t.harness, t.session)
        except NotFound:
            parts = []
        t.refreshed_at = trio.current_time()
        size = total_size(parts)
        changed = size != t.size
        if parts or not t.parts:
            t.parts, t.size = parts, size
        return changed

    async def read(self, ino: int, off: int, size: int) -> bytes:
        t = self._tracked.get(ino)
        if t is None or self.reader is None:
            raise NotFound("session file is not open")
        # A reader past the known end: look once more before saying EOF.
        if off + size > t.size and trio.current_time() - t.refreshed_at > self.interval / 4:
            await self._refresh(t)
        if off >= t.size or size <= 0:
            return b""
        return await self.calls.run(self.reader.read, t.parts, off, min(size, t.size - off))

    async def run(self) -> None:
        while True:
            if not self._tracked:
                self._wake = trio.Event()
                await self._wake.wait()
            await trio.sleep(self.interval)
            for ino, t in list(self._tracked.items()):
                try:
                    changed = await self._refresh(t)
                except TcfsError as exc:
                    log.log(exc.level, "tailing %s/%s: %s", t.harness, t.session, exc)
                    continue
                if changed and self.invalidate is not None:
                    await self._invalidate(ino)

    async def _invalidate(self, ino: int) -> None:
        assert self.invalidate is not None
        with trio.move_on_after(INVALIDATE_TIMEOUT_S):
            try:
                await trio.to_thread.run_sync(self.invalidate, ino, abandon_on_cancel=True)
            except Exception as exc:  # the kernel may already have forgotten the inode
                log.debug("invalidate inode %d: %s", ino, exc)
