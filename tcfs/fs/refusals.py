"""Why the mount said no: the last refusals, readable without the daemon's log.

A shell shows only the errno's one word ("Invalid argument"); the reason (the
name rule, the status words, the limit, the holder) is in the error's
message.  The adapter's boundary hands each refusal here; the never-listed
file ``why`` at the mount's root shows them, and the daemon publishes them
next to its mount record, where ``tcfs status`` reads them (never through the
mount, which may hang when its daemon is dead).
"""

from __future__ import annotations

import errno as errno_
import logging
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from tcfs.errors import TcfsError

#: the refusals kept (the oldest go first)
KEEP = 20
#: the name of the never-listed file at the mount's root
FILE_NAME = "why"


@dataclass(frozen=True)
class Refusal:
    at: float
    op: str
    path: str
    errno: str
    reason: str
    pid: int | None = None

    def line(self) -> str:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at))
        by = f" (pid {self.pid})" if self.pid else ""
        return f"{when} {self.op} {self.path}: {self.errno}: {self.reason}{by}"

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Refusal:
        pid = doc.get("pid")
        return cls(
            at=float(doc["at"]),
            op=str(doc["op"]),
            path=str(doc["path"]),
            errno=str(doc["errno"]),
            reason=str(doc["reason"]),
            pid=pid if isinstance(pid, int) else None,
        )


class Refusals:
    """The mount's last ``KEEP`` refusals, and what stopped it, if anything."""

    def __init__(self, keep: int = KEEP) -> None:
        self._kept: deque[Refusal] = deque(maxlen=keep)
        #: a problem of the whole mount (its agent id taken over), shown first
        self.problem: str | None = None
        #: changed since ``published`` was last called
        self.dirty = False

    def add(self, op: str, path: str, exc: TcfsError, pid: int | None = None) -> None:
        """Keep a refusal the caller sees; a miss (``ENOENT``, logged at
        DEBUG: every shell's lookups make them) is not one."""
        if exc.level < logging.INFO:
            return
        name = errno_.errorcode.get(exc.errno, str(exc.errno))
        self._kept.append(Refusal(time.time(), op, path, name, str(exc), pid))
        self.dirty = True

    def stop(self, problem: str) -> None:
        self.problem = problem
        self.dirty = True

    def recent(self) -> list[Refusal]:
        return list(self._kept)

    def render(self) -> bytes:
        lines = [f"STOPPED: {self.problem}"] if self.problem else []
        kept = self.recent()
        if kept:
            lines.append(f"the last {len(kept)} refusal(s), newest last:")
            lines += [r.line() for r in kept]
        else:
            lines.append("no refusals since this mount started")
        return ("\n".join(lines) + "\n").encode()

    def published(self) -> dict[str, Any]:
        """What ``tcfs status`` reads (and now not dirty)."""
        self.dirty = False
        return {"problem": self.problem, "refusals": [asdict(r) for r in self._kept]}
