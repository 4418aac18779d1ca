"""The bytes of the mount's ``events`` file: the project's history, one line
per event, growing while someone has it open.

The first open reads the history (an :class:`EventTail`'s first pass); while
at least one handle is open, a thread makes one pass a second and, when lines
were added, tells the kernel to drop the file's cached attributes so
``tail -f`` sees the new size.  With nobody reading, nothing runs and the
bucket is not asked anything; a later open catches up in one pass.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from tcfs.errors import TcfsError
from tcfs.protocol.events.reader import EventTail
from tcfs.store.base import Store

log = logging.getLogger(__name__)

#: a pass (one LIST) this often while the file is open
FEED_INTERVAL_S = 0.5


class EventsFeed:
    def __init__(
        self,
        store: Store,
        invalidate: Callable[[int], None] | None = None,
        *,
        interval: float = FEED_INTERVAL_S,
    ) -> None:
        self.store = store
        self.invalidate = invalidate
        self.interval = interval
        self._tail: EventTail | None = None
        self._text = bytearray()
        self._refs: dict[int, int] = {}
        self._lock = threading.Lock()
        self._passing = threading.Lock()  # one pass at a time: the tail is not shared
        self._stop: threading.Event | None = None

    @property
    def size(self) -> int:
        with self._lock:
            return len(self._text)

    def read(self, off: int, size: int) -> bytes:
        with self._lock:
            return bytes(self._text[off : off + size])

    def open(self, ino: int) -> None:
        """A handle opened (blocking: the first open reads the history)."""
        self._pass()
        with self._lock:
            self._refs[ino] = self._refs.get(ino, 0) + 1
            if self._stop is not None:
                return
            stop = self._stop = threading.Event()
        threading.Thread(
            target=self._run, args=(stop,), name="tcfs-events-feed", daemon=True
        ).start()

    def close(self, ino: int) -> None:
        """A handle closed; the last one stops the passes."""
        with self._lock:
            left = self._refs.get(ino, 0) - 1
            if left > 0:
                self._refs[ino] = left
            else:
                self._refs.pop(ino, None)
            if not self._refs and self._stop is not None:
                self._stop.set()
                self._stop = None

    def shutdown(self) -> None:
        with self._lock:
            if self._stop is not None:
                self._stop.set()
            self._stop = None
            self._refs.clear()

    def _pass(self) -> bool:
        with self._passing:
            if self._tail is None:
                self._tail = EventTail(self.store)
            try:
                new = self._tail.poll()
            except TcfsError as exc:
                log.log(exc.level, "events: %s", exc)
                return False
        if not new:
            return False
        lines = "".join(e.line() + "\n" for e in new).encode()
        with self._lock:
            self._text += lines
        return True

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            if not self._pass() or self.invalidate is None:
                continue
            with self._lock:
                inos = list(self._refs)
            for ino in inos:
                try:
                    self.invalidate(ino)
                except Exception as exc:  # the kernel may have forgotten the inode
                    log.debug("events: invalidate %d: %s", ino, exc)
