"""Wake an idle agent: ``tcfs mount ... --wake 'COMMAND {message_file}'``.

A harness with hooks takes its mail at the next prompt or turn end.  Mail that
nobody has taken for ``after`` seconds means no session of the agent is
running on this mount, so the mount runs the command: the unread messages
(at most ``context.MAX_SHOWN``, oldest first) are written to a private file
whose path replaces ``{message_file}``, and once the command has started they
are marked read (the file delivered them; the woken session's hooks do not
show them again).  At most one command runs at a time, each for at most
``timeout`` seconds (then it is killed); every start and end is logged.

The watch costs one LIST of the mailbox every ``INTERVAL`` seconds (the
broadcasts every third time), and a look at the unread mail only when
something arrived.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tcfs.errors import TcfsError
from tcfs.hooks.context import MAX_SHOWN
from tcfs.protocol.messages import Message, Messages

INTERVAL = 5.0
BROADCAST_EVERY = 3
PLACEHOLDER = "{message_file}"

log = logging.getLogger(__name__)


def check_command(command: str) -> list[str]:
    """The command as argv (no shell), or ``ValueError`` with what is wrong."""
    argv = shlex.split(command)
    if not argv:
        raise ValueError("--wake needs a command")
    if not any(PLACEHOLDER in a for a in argv):
        raise ValueError(f"--wake: the command must name {PLACEHOLDER}")
    return argv


def render(msgs: list[Message]) -> str:
    """What the message file holds: each message with its sender, as text."""
    parts = []
    for m in msgs:
        kind = "broadcast" if m.broadcast else "direct"
        step = f", step {m.step}" if m.step else ""
        parts.append(f"--- from {m.sender} ({kind}{step}) at {m.sent_at}:\n{m.text.rstrip()}\n")
    return "".join(parts)


class Waker:
    """Watches one agent's mailbox and runs the wake command; ``tick`` is one look."""

    def __init__(
        self,
        messages: Messages,
        command: str,
        spool: Path,
        *,
        after: float = 30.0,
        timeout: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.messages = messages
        self.argv = check_command(command)
        self.spool = spool
        self.after = after
        self.timeout = timeout
        self.clock = clock
        self.proc: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self._file: Path | None = None
        self._first_seen: dict[str, float] = {}
        self._marker: tuple[str | None, str | None] | None = None
        self._ticks = 0

    def _reap(self) -> bool:
        """True while a command still runs (killed past its timeout)."""
        if self.proc is None:
            return False
        code = self.proc.poll()
        if code is None and self.clock() - self._started > self.timeout:
            log.warning("wake: %s ran past %.0fs; killing it", self.argv[0], self.timeout)
            self.proc.kill()
            code = self.proc.wait(timeout=10)
        if code is None:
            return True
        log.info("wake: %s exited with %d", self.argv[0], code)
        if self._file is not None:
            self._file.unlink(missing_ok=True)
        self.proc = self._file = None
        return False

    def tick(self) -> bool:
        """One look; True when it started the command."""
        if self._reap():
            return False
        self._ticks += 1
        marker = self.messages.poll_marker(broadcast=self._ticks % BROADCAST_EVERY == 1)
        if marker == self._marker and not self._first_seen:
            return False  # nothing arrived and nothing is waiting
        self._marker = marker
        unread = self.messages.unread(MAX_SHOWN)
        now = self.clock()
        self._first_seen = {m.name: self._first_seen.get(m.name, now) for m in unread}
        if not unread or now - min(self._first_seen.values()) < self.after:
            return False
        self._start(unread)
        return True

    def _start(self, unread: list[Message]) -> None:
        self.spool.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, name = tempfile.mkstemp(prefix="wake-", suffix=".txt", dir=self.spool)
        with os.fdopen(fd, "w", encoding="utf-8") as f:  # mkstemp: mode 0600
            f.write(render(unread))
        argv = [a.replace(PLACEHOLDER, name) for a in self.argv]
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        except OSError as exc:
            log.error("wake: cannot run %s: %s", self.argv[0], exc)
            os.unlink(name)
            return
        self._started, self._file = self.clock(), Path(name)
        names = [m.name for m in unread]
        self.messages.ack(names)  # the file delivered them
        self._first_seen.clear()
        log.info("wake: started %s (pid %d) for %s", json.dumps(argv), self.proc.pid, names)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self._file is not None:
            self._file.unlink(missing_ok=True)


def start(messages: Messages, command: str, *, after: float) -> Callable[[], None]:
    """Watch ``messages`` in a thread of the mount's daemon; returns what stops it."""
    from tcfs.config import runtime_dir

    log.info("wake: %s after %gs of unread mail", command, after)
    return run_in_thread(Waker(messages, command, runtime_dir() / "wake", after=after))


def run_in_thread(waker: Waker) -> Callable[[], None]:
    """Watch in a daemon thread until the returned function is called."""
    done = threading.Event()

    def loop() -> None:
        while not done.wait(INTERVAL):
            try:
                waker.tick()
            except TcfsError as exc:  # the bucket is down: look again later
                log.log(exc.level, "wake: %s", exc)
            except Exception:  # never take the mount down
                log.exception("wake: unexpected error")
        waker.stop()

    thread = threading.Thread(target=loop, name="tcfs-wake", daemon=True)
    thread.start()

    def stop() -> None:
        done.set()
        thread.join(timeout=10)

    return stop
