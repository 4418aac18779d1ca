"""A local store that counts the requests it serves, by kind (GET, PUT, ...)."""

from __future__ import annotations

import collections

from tcfs.store.local import LocalStore


class CountingStore(LocalStore):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.counts: collections.Counter[str] = collections.Counter()

    def get(self, *a, **k):  # type: ignore[no-untyped-def]
        self.counts["GET"] += 1
        return super().get(*a, **k)

    def head(self, *a, **k):  # type: ignore[no-untyped-def]
        self.counts["HEAD"] += 1
        return super().head(*a, **k)

    def put(self, *a, **k):  # type: ignore[no-untyped-def]
        self.counts["PUT"] += 1
        return super().put(*a, **k)

    def put_file(self, *a, **k):  # type: ignore[no-untyped-def]
        self.counts["PUT"] += 1
        return super().put_file(*a, **k)

    def delete(self, *a, **k):  # type: ignore[no-untyped-def]
        self.counts["DELETE"] += 1
        return super().delete(*a, **k)

    def list(self, *a, **k):  # type: ignore[no-untyped-def]
        self.counts["LIST"] += 1
        return super().list(*a, **k)

    @property
    def calls(self) -> int:
        """Requests of every kind."""
        return sum(self.counts.values())
