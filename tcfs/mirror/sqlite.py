"""Reading a live SQLite database that another program writes (WAL mode).

Read-only URI (``file:<escaped path>?mode=ro``), one short transaction per
call, and retries on the transient errors a reader sees while the writer
checkpoints or resets the WAL (``SQLITE_BUSY``, "database is locked", and the
brief "disk I/O error" of a read-only connection).  Nothing here ever writes.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

BUSY_TIMEOUT_MS = 2000
ATTEMPTS = 8
_TRANSIENT = ("locked", "busy", "disk i/o error", "unable to open")


def ro_uri(path: str | os.PathLike[str]) -> str:
    """A read-only URI for ``path``; ``?``, ``#``, ``%`` and spaces are escaped."""
    absolute = os.path.abspath(os.fspath(path))
    return "file:" + urllib.parse.quote(absolute, safe="/") + "?mode=ro"


def _transient(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and any(
        s in str(exc).lower() for s in _TRANSIENT
    )


def read(path: str | os.PathLike[str], fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn`` in one short read transaction, retrying transient errors."""
    last: sqlite3.Error | None = None
    for attempt in range(ATTEMPTS):
        conn = None
        try:
            conn = sqlite3.connect(
                ro_uri(path), uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if not _transient(exc):
                raise
            last = exc
            time.sleep(random.uniform(0.01, 0.05 * (attempt + 1)))
        finally:
            if conn is not None:
                conn.close()
    assert last is not None
    raise last


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """The table's columns in order; empty when the table does not exist."""
    return [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]


def quoted(cols: list[str]) -> str:
    return ", ".join('"' + c.replace('"', '""') + '"' for c in cols)


def select_present(
    path: str | os.PathLike[str], table: str, wanted: Sequence[str], *, required: str = "id"
) -> list[dict[str, Any]]:
    """Every row of ``table``, with those of the ``wanted`` columns the schema has
    (harness schemas grow column by column); none when the table or its
    ``required`` column is missing or the database cannot be read."""

    def query(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        cols = set(columns(conn, table))
        if required not in cols:
            return []
        want = [c for c in wanted if c in cols]
        return [dict(r) for r in conn.execute(f'SELECT {quoted(want)} FROM "{table}"')]

    try:
        return read(path, query)
    except sqlite3.Error:
        return []


def probe(path: str | os.PathLike[str]) -> Hashable:
    """Changes whenever the database or its WAL is written (two stats)."""
    out: list[object] = []
    for p in (os.fspath(path), os.fspath(path) + "-wal"):
        try:
            st = os.stat(p)
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append(None)
    return tuple(out)
