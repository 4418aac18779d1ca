"""Independent requests of one operation, sent together.

On a real bucket every request is a round trip; two that do not need each
other's answer cost one when they travel together.  ``both(f, g)`` runs ``g``
on a small shared pool while ``f`` runs in the calling thread, waits for both,
and raises the first one's error (``f``'s before ``g``'s) only once both have
ended, so no request of a failed operation is left running unseen.  ``start``
and ``settle`` do the same for more than two.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

A = TypeVar("A")
B = TypeVar("B")

#: requests sent beside the calling thread's, for every operation of the process
_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="tcfs-both")


def both(f: Callable[[], A], g: Callable[[], B], *, together: bool = True) -> tuple[A, B]:
    """``f()`` and ``g()``; at once unless ``together`` is False (a store whose
    requests are no round trips: a thread hop would cost more than it saves)."""
    if not together:
        return f(), g()
    side = _POOL.submit(g)
    try:
        a = f()
    except BaseException:
        side.exception()  # wait for it, whatever it did
        raise
    return a, side.result()


def start(g: Callable[[], B], *, together: bool = True) -> Future[B]:
    """``g()`` on the shared pool, for several requests beside the calling
    thread's; pair it with ``settle``.  Not ``together``: run now, in this thread."""
    if together:
        return _POOL.submit(g)
    done: Future[B] = Future()
    try:
        done.set_result(g())
    except BaseException as exc:
        done.set_exception(exc)
    return done


def settle(futures: Iterable[Future[Any]]) -> None:
    """Wait until every one of ``futures`` ended, whatever each did, so no
    request of a failed operation is left running unseen."""
    wait(list(futures))
