"""Blocking protocol calls, run off the trio loop and bounded in time.

Every store request a handler makes goes through ``Calls.run``: a worker thread
under one ``CapacityLimiter`` (so a burst of ``cat`` never opens hundreds of
connections) and a deadline.  A call that outlives its deadline is abandoned
(its thread finishes in the background) and the handler answers ``ETIMEDOUT``:
nothing hangs the mount.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from tcfs.errors import StoreTimeout

T = TypeVar("T")

#: default deadline of one protocol call (the store's own retries end at ~20 s)
CALL_TIMEOUT_S = 30.0
#: worker threads talking to the store at once
MAX_THREADS = 16


class Calls:
    def __init__(self, *, timeout: float = CALL_TIMEOUT_S, threads: int = MAX_THREADS) -> None:
        self.timeout = timeout
        self.limiter = trio.CapacityLimiter(threads)

    async def run(
        self, fn: Callable[..., T], *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> T:
        limit = self.timeout if timeout is None else timeout
        call = functools.partial(fn, *args, **kwargs)
        with trio.move_on_after(limit):
            return await trio.to_thread.run_sync(call, limiter=self.limiter, abandon_on_cancel=True)
        name = getattr(fn, "__qualname__", repr(fn))
        raise StoreTimeout(f"{name} did not answer within {limit:g}s")
