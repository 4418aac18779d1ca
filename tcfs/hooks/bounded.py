"""Run mount I/O with a deadline.

A read on a mount whose daemon is stopped blocks in the kernel and cannot be
interrupted from Python; it runs in a daemon thread, the caller waits only
until its deadline, and the process ends with ``os._exit`` (which the kernel
honours even for a thread stuck in a FUSE request).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class TimedOut(Exception):
    pass


def within(seconds: float, fn: Callable[[], T]) -> T:
    """``fn()``'s result or exception, or ``TimedOut`` after ``seconds``."""
    box: list[tuple[bool, object]] = []
    done = threading.Event()

    def work() -> None:
        try:
            box.append((True, fn()))
        except BaseException as exc:  # handed to the caller
            box.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=work, name="tcfs-hook-io", daemon=True).start()
    if not done.wait(max(seconds, 0.0)):
        raise TimedOut
    ok, value = box[0]
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value  # type: ignore[return-value]
