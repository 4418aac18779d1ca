"""Whether the thread behind a FUSE request will still take its answer.

Once the kernel has sent a request, the calling thread waits for the reply
even when it is killed: a blocked read must be answered (``EINTR``) for its
caller to die, and a message must not be handed to a caller that will never
read it.  The kernel shows what we need in ``/proc/<tid>/status``: a fatal
signal (a default-action ``SIGTERM`` or ``SIGINT``, or ``SIGKILL``) is
pending as ``SIGKILL`` in ``SigPnd``; a signal the process catches is pending
there or in ``ShdPnd`` (sent to the whole process) until the call returns.
Only ``/proc`` is read, never the store, so this is cheap enough to ask
every few hundred milliseconds while a reader blocks.  Without procfs
(macOS) nothing can be told: every caller counts as still waiting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tcfs.protocol.holds import process_of

PROC = "/proc"


@dataclass(frozen=True)
class Caller:
    """The thread that opened a blocking file, and its process: the read
    comes from that thread in practice, and from another of the process
    once that thread has ended."""

    thread: int
    process: int

    @classmethod
    def of(cls, tid: int | None) -> Caller | None:
        """The caller behind a request's ``tid`` (None: unknown, never checked)."""
        if not tid:
            return None
        return cls(tid, process_of(tid) or tid)

    def interrupted(self, proc: str = PROC) -> bool:
        """True if the caller will not take an answer: gone or a zombie, or
        a signal is pending that it neither blocks nor ignores (the kernel
        ends its call with ``EINTR`` as soon as it is answered)."""
        if not os.path.isdir(f"{proc}/self"):
            return False  # no procfs to ask
        try:
            status = _status(proc, self.thread)
            if status is None and self.process != self.thread:
                status = _status(proc, self.process)  # the thread ended; its process reads on
        except OSError:  # procfs cannot tell
            return False
        if status is None:
            return True
        fields = dict(line.split(b":", 1) for line in status.splitlines() if b":" in line)
        if fields.get(b"State", b"").strip()[:1] in (b"Z", b"X"):
            return True
        pending = _mask(fields, b"SigPnd") | _mask(fields, b"ShdPnd")
        held = _mask(fields, b"SigBlk") | _mask(fields, b"SigIgn")
        return bool(pending & ~held)


def _status(proc: str, pid: int) -> bytes | None:
    """``/proc/<pid>/status``; None once the task is gone."""
    try:
        with open(f"{proc}/{pid}/status", "rb") as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _mask(fields: dict[bytes, bytes], name: bytes) -> int:
    return int(fields.get(name, b"").strip() or b"0", 16)
