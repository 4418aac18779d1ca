"""Which names directly under ``memory/`` are namespaces, known before anyone asks.

A name directly under ``memory/`` is a directory (a namespace) unless the CLI
made it a one-part key, ``memory/<a>.json``.  The kernel looks that name up
before every path below it, so asking the bucket there would put a round
trip in front of every memory command.  Instead the mount knows:

* when it starts, one delimited listing of ``memory/`` names every one-part
  key there is (any other name is a namespace as of then); every
  ``ls memory`` teaches the same again;
* a name's verdict is kept; a look more than ``RECHECK_S`` after the last
  check of its name checks it again (one GET of ``memory/<a>.json``) *in the
  background*: that look answers from the verdict it has, the looks after
  the check from the check's answer.

So a one-part key the CLI creates shows as a file from the first look after
a check that began once it existed: within ``RECHECK_S`` and a round trip on
a name in use, one look late on a name left alone.  Only the CLI makes
one-part keys (the mount cannot create one).  A one-part key costs its GET
at every look anyway (the lookup reads the value): only namespaces are
taken on trust.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

import trio

from tcfs.errors import TcfsError

log = logging.getLogger(__name__)

#: how old a verdict may get before a look checks it again (in the background)
RECHECK_S = 30.0
#: verdicts kept at most (dropped all at once beyond)
MAX_NAMES = 4096
#: how long a look waits for the mount's first listing before asking itself
LISTING_WAIT_S = 5.0

#: one GET of the one-part key ``memory/<name>.json``: whether it exists
Probe = Callable[[str], Awaitable[bool]]
#: the one-part keys of a delimited listing of ``memory/`` (None: too many to use)
Lister = Callable[[], Awaitable[frozenset[str] | None]]


class Namespaces:
    def __init__(self) -> None:
        self._checked: dict[str, float] = {}  # name -> when found to be a namespace
        self._one_part: set[str] = set()  # one-part keys the mount knows of
        self._listed_at: float | None = None  # any other name: a namespace as of then
        self._checking: set[str] = set()
        self._listing: trio.Event | None = None

    # ----- what the mount learns -----

    def listed(self, one_part: Iterable[str], at: float) -> None:
        """The one-part keys of a complete listing of ``memory/`` taken at ``at``."""
        self._one_part = set(one_part)
        self._checked = {
            n: t for n, t in self._checked.items() if t > at and n not in self._one_part
        }
        self._listed_at = at

    def found_namespace(self, name: str, at: float) -> None:
        if len(self._checked) >= MAX_NAMES:
            self._checked.clear()
        self._checked[name] = at
        self._one_part.discard(name)

    def found_value(self, name: str) -> None:
        self._checked.pop(name, None)
        if len(self._one_part) < MAX_NAMES:
            self._one_part.add(name)

    # ----- what a look asks -----

    def checked_at(self, name: str) -> float | None:
        """When ``name`` was last known to be a namespace; None when it may be
        a one-part key (the look must read it)."""
        at = self._checked.get(name)
        if at is not None or name in self._one_part:
            return at
        return self._listed_at

    async def listing_done(self) -> None:
        """Wait (bounded) for the mount's first listing while it is under way."""
        if self._listing is not None and not self._listing.is_set():
            with trio.move_on_after(LISTING_WAIT_S):
                await self._listing.wait()

    def recheck(self, name: str, probe: Probe) -> None:
        """Check ``name`` again in the background (one check of a name at a time)."""
        if name in self._checking:
            return
        self._checking.add(name)

        async def check() -> None:
            # A system task: nothing may escape it but trio's own cancellation.
            try:
                at = trio.current_time()
                if await probe(name):
                    self.found_value(name)
                else:
                    self.found_namespace(name, at)
            except TcfsError as exc:  # the verdict stays; a later look tries again
                log.debug("memory/%s: the one-part key check failed: %s", name, exc)
            finally:
                self._checking.discard(name)

        trio.lowlevel.spawn_system_task(check)

    def start_listing(self, lister: Lister) -> None:
        """The mount's first listing of ``memory/``, in the background."""
        done = self._listing = trio.Event()

        async def listing() -> None:
            # A system task: nothing may escape it but trio's own cancellation.
            try:
                at = trio.current_time()
                one_part = await lister()
                if one_part is not None:
                    self.listed(one_part, at)
            except TcfsError as exc:  # each name is then read when it is looked at
                log.debug("listing memory/ failed: %s", exc)
            finally:
                done.set()

        trio.lowlevel.spawn_system_task(listing)
