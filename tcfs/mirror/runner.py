"""Which sessions to mirror, once or continuously.

Selection, for each harness:

* ``session_id`` given: that session (and its subagent streams);
* ``all_sessions``: every session that ran in the cwd;
* otherwise the most recently active session of the cwd and its subagents,
  and, when following, every session that becomes active after the start
  (a new session started with ``/new``, a resumed one).

Following costs one probe (about one ``stat``) per stream per interval and no
bucket request while nothing changes; the session list is refreshed every
``rediscover`` seconds.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tcfs.errors import TcfsError
from tcfs.mirror import adapters as registry
from tcfs.mirror.adapters.base import Adapter, SessionRef
from tcfs.mirror.engine import MAX_PARTS_PER_STEP, StreamMirror
from tcfs.store.base import Store

log = logging.getLogger(__name__)

REDISCOVER_S = 10.0
RECENT_SLACK_S = 2.0  # a session touched this shortly before the start counts as new
SETTLE_BYTES = 64 << 10  # a one-shot run ends after a read smaller than this


def harnesses_with_sessions(cwd: Path) -> list[str]:
    """The harnesses that have at least one session for ``cwd``."""
    found = []
    for name in registry.names():
        try:
            if registry.get(name).discover(cwd):
                found.append(name)
        except (OSError, sqlite3.Error, ValueError) as exc:
            log.info("%s: discovery failed: %s", name, exc)
    return found


class Runner:
    def __init__(
        self,
        store: Store,
        harnesses: Sequence[str] | None,  # None: auto
        *,
        cwd: Path,
        explicit_cwd: bool = False,
        session_id: str | None = None,
        all_sessions: bool = False,
        agent_id: str | None = None,
        redact: bool = True,
        state_root: Path | None = None,
        echo: Callable[[str], None] = print,
        rediscover: float = REDISCOVER_S,
    ) -> None:
        self.store = store
        self.auto = harnesses is None
        self.harness_names = list(harnesses or [])
        self.cwd = cwd
        self.explicit_cwd = explicit_cwd
        self.session_id = session_id
        self.all_sessions = all_sessions
        self.agent_id = agent_id
        self.redact = redact
        self.state_root = state_root
        self.echo = echo
        self.rediscover = rediscover
        self.started = time.time()
        self.streams: dict[tuple[str, str], StreamMirror] = {}
        self._errors: dict[tuple[str, str], str] = {}
        self._busy_noted: set[tuple[str, str]] = set()
        self.following = False
        self._adapter_cache: dict[str, Adapter] = {}

    # ----- selection -----

    def _adapters(self) -> list[Adapter]:
        # one instance per harness for the runner's life: adapters cache first lines
        names = registry.names() if self.auto else self.harness_names
        for n in names:
            if n not in self._adapter_cache:
                self._adapter_cache[n] = registry.get(n)
        return [self._adapter_cache[n] for n in names]

    def _candidates(self, adapter: Adapter) -> list[SessionRef]:
        if self.session_id:
            refs = adapter.discover(None)
            return [r for r in refs if self.session_id in (r.session_id, r.key, r.parent_id)]
        refs = adapter.discover(self.cwd)
        if not refs and not self.auto and not self.explicit_cwd and not adapter.scoped_by_cwd:
            refs = adapter.discover(None)  # this harness does not record where it ran
        if self.all_sessions:
            return refs
        tops = [r for r in refs if r.parent_id is None]
        chosen: set[str] = set()
        if tops:
            chosen.add(max(tops, key=lambda r: r.updated_at).session_id)
        if self.following:  # sessions active since the start, and those already followed
            for r in tops:
                if r.updated_at >= self.started - RECENT_SLACK_S or (
                    (adapter.name, r.session_id) in self.streams
                ):
                    chosen.add(r.session_id)
        return [r for r in refs if r.session_id in chosen or r.parent_id in chosen]

    def select(self) -> list[tuple[Adapter, SessionRef]]:
        out: list[tuple[Adapter, SessionRef]] = []
        for adapter in self._adapters():
            try:
                refs = self._candidates(adapter)
            except (OSError, sqlite3.Error, ValueError) as exc:
                self.echo(f"{adapter.name}: cannot list sessions: {exc}")
                continue
            out.extend((adapter, r) for r in refs)
        return out

    def _refresh(self) -> None:
        for adapter, ref in self.select():
            k = (adapter.name, ref.session_id)
            stream = self.streams.get(k)
            if stream is None:
                self.streams[k] = StreamMirror(
                    self.store,
                    adapter,
                    ref,
                    agent_id=self.agent_id,
                    redact=self.redact,
                    state_root=self.state_root,
                    echo=self.echo,
                )
            elif stream.ref != ref:
                stream.ref = ref  # moved (archived, compressed): same stream

    # ----- running -----

    def _step(
        self, key: tuple[str, str], stream: StreamMirror, force: bool, stop: Callable[[], bool]
    ) -> int:
        """One stream's step; an error is reported once and retried next time,
        never fatal to the other streams or the loop."""
        try:
            if not stream.acquire():
                if key not in self._busy_noted:
                    self._busy_noted.add(key)
                    self.echo(f"{stream.name}: another mirror is running for it; skipped")
                return 0
            self._busy_noted.discard(key)
            if force:  # one-shot: the whole backlog, then stop chasing the writer
                n = stream.step(force=True, stop=stop, max_parts=None, settle_below=SETTLE_BYTES)
            else:
                n = stream.step(stop=stop, max_parts=MAX_PARTS_PER_STEP)
            if key in self._errors:
                del self._errors[key]
                self.echo(f"{stream.name}: recovered")
            return n
        except Exception as exc:  # a bad source or a store outage must not stop the loop
            msg = f"{type(exc).__name__}: {exc}"
            if self._errors.get(key) != msg:
                self._errors[key] = msg
                self.echo(f"{stream.name}: {msg} (will retry)")
            return 0

    def run_once(self) -> int:
        """Mirror the selected sessions up to now; returns parts uploaded."""
        self._refresh()
        total = 0
        try:
            for key, stream in self.streams.items():
                total += self._step(key, stream, True, lambda: False)
        finally:
            for stream in self.streams.values():
                stream.release()
        return total

    @property
    def failed(self) -> bool:
        return bool(self._errors)

    def run_follow(self, interval: float, stop: threading.Event) -> int:
        """Mirror continuously until ``stop`` is set; then mark the sessions ended."""
        self.following = True
        total = 0
        next_discovery = 0.0
        waiting_noted = False
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= next_discovery:
                    try:
                        self._refresh()
                    except (TcfsError, OSError, sqlite3.Error) as exc:
                        self.echo(f"discovery failed: {exc} (will retry)")
                    next_discovery = now + self.rediscover
                    if not self.streams and not waiting_noted:
                        waiting_noted = True
                        self.echo(f"waiting for a session in {self.cwd}")
                for key, stream in list(self.streams.items()):
                    if stop.is_set():
                        break
                    total += self._step(key, stream, False, stop.is_set)
                stop.wait(interval)
        finally:
            for stream in self.streams.values():
                if stream.state is not None:
                    try:
                        stream.mark_ended()
                    except (TcfsError, OSError) as exc:
                        self.echo(f"{stream.name}: could not mark ended: {exc}")
                stream.release()
        return total
