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

PROC = "/proc"


def _mask(value: bytes) -> int:
    return int(value.strip() or b"0", 16)


def interrupted(tid: int, proc: str = PROC) -> bool:
    """True if thread ``tid`` will not take an answer: it is gone or a
    zombie, or a signal is pending that it neither blocks nor ignores (the
    kernel ends its call with ``EINTR`` as soon as it is answered)."""
    try:
        with open(f"{proc}/{tid}/status", "rb") as f:
            status = f.read()
    except FileNotFoundError:
        return os.path.isdir(f"{proc}/self")  # gone, if there is procfs to ask
    except OSError:
        return False
    fields = dict(line.split(b":", 1) for line in status.splitlines() if b":" in line)
    if fields.get(b"State", b"").strip()[:1] in (b"Z", b"X"):
        return True
    pending = _mask(fields.get(b"SigPnd", b"")) | _mask(fields.get(b"ShdPnd", b""))
    held = _mask(fields.get(b"SigBlk", b"")) | _mask(fields.get(b"SigIgn", b""))
    return bool(pending & ~held)
