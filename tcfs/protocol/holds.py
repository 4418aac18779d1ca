"""Messages handed to one reader of a mount, held back from its other readers.

A hook reads ``inbox/unread`` (which does not move the durable cursor),
answers its harness, and only then acknowledges with ``inbox/ack``.  Between
the two, another reader of the same mount (``cat inbox/next``, a second hook,
the waker) must not deliver the same messages: the read holds what it
returned, and every reader of this process skips what another holds.  A hold
ends when the messages are acknowledged, or lapses after ``HOLD_S`` (hooks
answer within 2 s), so a reader that died before acknowledging loses nothing:
the messages are delivered normally then.  A hold taken for a process (the
reader's, on the mount) also ends as soon as that process is gone: a hook
acknowledges from the process that read, so a hook that died frees its
messages at once, and a person's ``cat inbox/unread`` holds nothing once it
has printed.

Holds live in the daemon's memory only: another process reading the cursor
(``tracecraft inbox --new``) does not see them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

#: how long a read of ``inbox/unread`` holds what it returned
HOLD_S = 5.0


class Holds:
    """Message names held by a reader, each until a deadline; thread-safe."""

    def __init__(self, hold_s: float = HOLD_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.hold_s = hold_s
        self.clock = clock
        # name -> (deadline, delivered, owner): a delivered name is read on the
        # cursor already and is held only against readers that listed it before;
        # owner is the holder's process id, if known
        self._until: dict[str, tuple[float, bool, int | None]] = {}
        self._lock = threading.Lock()
        self._lapsed = False

    def _prune(self) -> None:
        now = self.clock()
        gone: dict[int, bool] = {}
        for name, (until, delivered, owner) in list(self._until.items()):
            if owner is not None and owner not in gone:
                gone[owner] = not alive(owner)
            if until <= now or (owner is not None and gone[owner]):
                del self._until[name]
                self._lapsed = self._lapsed or not delivered

    def take(
        self,
        names: Iterable[str],
        limit: int | None = None,
        *,
        owner: int | None = None,
        consuming: bool = False,
    ) -> list[str]:
        """Hold each name no one holds, up to ``limit``, for the process
        ``owner`` if given; returns those taken.  A reader ``consuming`` by
        compare-and-swap on the cursor also takes names held only as
        delivered: a stale listing cannot fool it, and a cursor moved back
        must deliver them again."""
        with self._lock:
            self._prune()
            until = self.clock() + self.hold_s
            taken: list[str] = []
            for name in names:
                if limit is not None and len(taken) >= limit:
                    break
                held = self._until.get(name)
                if held is None or (consuming and held[1]):
                    self._until[name] = (until, False, owner)
                    taken.append(name)
            return taken

    def release(self, names: Iterable[str]) -> None:
        """The holder did not deliver these: they are free again now."""
        with self._lock:
            for name in names:
                if self._until.pop(name, None) is not None:
                    self._lapsed = True

    def delivered(self, names: Iterable[str]) -> None:
        """These are read on the cursor now.  They stay held for ``hold_s``
        against a reader that listed them before the cursor moved (a peek is
        no compare-and-swap), and then go without a word."""
        with self._lock:
            until = self.clock() + self.hold_s
            for name in names:
                self._until[name] = (until, True, None)

    def holds(self, name: str) -> bool:
        with self._lock:
            self._prune()
            return name in self._until

    def held(self) -> dict[str, float]:
        """Each name held for a delivery still under way, and the seconds left."""
        with self._lock:
            self._prune()
            now = self.clock()
            return {n: until - now for n, (until, done, _) in self._until.items() if not done}

    def lapsed(self) -> bool:
        """True once after a hold ran out unacknowledged: readers that skipped
        its messages must look again."""
        with self._lock:
            self._prune()
            lapsed, self._lapsed = self._lapsed, False
            return lapsed


def process_of(tid: int) -> int | None:
    """The process (thread group) of thread ``tid``, or None if it is gone."""
    try:
        with open(f"/proc/{tid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return tid


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, exited but not yet
    reaped by its parent, does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    except OSError:  # no procfs to ask: assume it runs, the hold still lapses
        return True
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] not in (b"Z", b"X")
