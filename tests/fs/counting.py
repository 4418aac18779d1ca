"""A local store that counts the requests it serves, by kind (GET, PUT, ...).

``counts`` has every request; ``after`` the ones sent after the caller had its
answer (from the threads of ``tcfs.protocol.after.AfterAnswer`` and the
doorbells' ringer).  Requests
now come from several threads at once, so counting takes a lock.
"""

from __future__ import annotations

import collections
import threading

from tcfs.store.local import LocalStore

#: names of the threads that send work after the caller has its answer
AFTER_THREADS = ("tcfs-after", "doorbells-")


class CountingStore(LocalStore):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.counts: collections.Counter[str] = collections.Counter()
        self.after: collections.Counter[str] = collections.Counter()
        self._count_lock = threading.Lock()

    def _count(self, kind: str) -> None:
        with self._count_lock:
            self.counts[kind] += 1
            if threading.current_thread().name.startswith(AFTER_THREADS):
                self.after[kind] += 1

    def clear(self) -> None:
        with self._count_lock:
            self.counts.clear()
            self.after.clear()

    def get(self, *a, **k):  # type: ignore[no-untyped-def]
        self._count("GET")
        return super().get(*a, **k)

    def head(self, *a, **k):  # type: ignore[no-untyped-def]
        self._count("HEAD")
        return super().head(*a, **k)

    def put(self, *a, **k):  # type: ignore[no-untyped-def]
        self._count("PUT")
        return super().put(*a, **k)

    def put_file(self, *a, **k):  # type: ignore[no-untyped-def]
        self._count("PUT")
        return super().put_file(*a, **k)

    def delete(self, *a, **k):  # type: ignore[no-untyped-def]
        self._count("DELETE")
        return super().delete(*a, **k)

    def list(self, *a, **k):  # type: ignore[no-untyped-def]
        self._count("LIST")
        return super().list(*a, **k)

    @property
    def calls(self) -> int:
        """Requests of every kind."""
        return sum(self.counts.values())
