"""Blocking protocol calls, run off the trio loop, bounded in time.

Every store request a handler makes goes through ``Calls``: a worker thread
under one ``CapacityLimiter`` (so a burst of ``cat`` never opens hundreds of
connections).  The store retries temporary failures itself, by its one
``RetryPolicy``; nothing here retries.

* ``run`` (reads): a call that outlives its deadline is abandoned (its thread
  finishes in the background) and the handler answers ``ETIMEDOUT``: nothing
  hangs the mount, and an abandoned read changes nothing.  The deadline is
  derived from the store's own bound on a request, so the store gives up
  first and says why.
* ``write`` (anything that changes the bucket): never abandoned.  Its outcome
  is unknown until it returns, so the caller waits for it; every request in
  it is bounded by the store's policy and timeouts, so it ends.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from tcfs.errors import StoreTimeout
from tcfs.store.base import DEFAULT_RETRY

if TYPE_CHECKING:
    from tcfs.store.base import Store

T = TypeVar("T")

#: a read is at most this many requests (a step's status: the claim and the
#: status record) before its deadline
READ_REQUESTS = 2
#: the deadline without a store at hand: the default policy and attempt bound
CALL_TIMEOUT_S = READ_REQUESTS * (DEFAULT_RETRY.deadline + 10.0)
#: worker threads talking to the store at once
MAX_THREADS = 16


class Calls:
    def __init__(self, *, timeout: float = CALL_TIMEOUT_S, threads: int = MAX_THREADS) -> None:
        self.timeout = timeout
        self.limiter = trio.CapacityLimiter(threads)

    @classmethod
    def for_store(cls, store: Store, *, threads: int = MAX_THREADS) -> Calls:
        """Calls whose read deadline the store's own bound cannot outlast."""
        return cls(timeout=READ_REQUESTS * store.request_budget_s(), threads=threads)

    async def run(
        self, fn: Callable[..., T], *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> T:
        """A read: ``StoreTimeout`` (ETIMEDOUT) once the deadline passes."""
        limit = self.timeout if timeout is None else timeout
        call = functools.partial(fn, *args, **kwargs)
        with trio.move_on_after(limit):
            return await trio.to_thread.run_sync(call, limiter=self.limiter, abandon_on_cancel=True)
        name = getattr(fn, "__qualname__", repr(fn))
        raise StoreTimeout(f"{name} did not answer within {limit:g}s")

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A change to the bucket, waited for to its end (even when cancelled:
        the cancellation takes effect once the outcome is known)."""
        call = functools.partial(fn, *args, **kwargs)
        return await trio.to_thread.run_sync(call, limiter=self.limiter)
