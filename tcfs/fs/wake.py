"""Wake an idle agent: ``tcfs mount ... --wake 'COMMAND {message_file}'``.

A harness with hooks takes its mail at the next prompt or turn end, so mail
that no reader took for ``after`` seconds, and that no hook holds for
delivery right now (``tcfs.protocol.holds``), means no session of the
agent is running on this mount: the mount runs the command.  The waiting
messages (at most ``mail_frame.MAX_SHOWN``, oldest first, as a hook shows them)
go into a private file (0600), which the command gets on its standard input
(``claude -p`` and ``codex exec resume ID -`` read a prompt from there) and
whose path replaces ``{message_file}`` in its arguments; it runs in the
directory ``tcfs mount`` was started in.  Once the command has started,
the messages are marked read: the file delivered them, and the woken
session's hooks do not show them again (until then the waker holds them, so
no hook or ``inbox/next`` delivers them too).  At most one command runs at a
time, each for at most ``timeout`` seconds (then it is killed, with whatever
it started: it runs in a session of its own); every start
and end is logged, its output goes to a private log beside the message files.

The watch costs nothing of its own: the mount's poller tells the waker when
the agent's doorbell (or the broadcasts') rang, when its slow sweep came (for
senders on the ``tracecraft`` CLI, which ring no bell) or when a hold lapsed,
and only then does the waker read the unread mail.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from tcfs import mail_frame
from tcfs.errors import TcfsError
from tcfs.protocol.messages import Message, Messages

if TYPE_CHECKING:
    from tcfs.fs.poller import Poller

PLACEHOLDER = "{message_file}"
#: how often a running command is looked at (for its end and its timeout)
REAP_S = 1.0
#: a killed or stopped command gets this long to exit
EXIT_S = 10.0
#: a look that failed (the bucket down) is tried again this much later
RETRY_S = 5.0
#: the commands' output log is set aside (one older copy kept) past this size,
#: so a mount that wakes an agent for months does not fill the disk
LOG_MAX_BYTES = 8 << 20

log = logging.getLogger(__name__)


def check_command(command: str) -> list[str]:
    """The command as argv (no shell), or ``ValueError`` with what is wrong.
    ``{message_file}`` is optional: the file comes on standard input too."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"--wake: {exc}") from None
    if not argv:
        raise ValueError("--wake needs a command")
    if shutil.which(argv[0]) is None:
        raise ValueError(f"--wake: {argv[0]}: no such program (give its path, or fix PATH)")
    return argv


def render(messages: Messages, msgs: list[Message], mount: Path) -> str:
    """What the message file holds: the messages as a hook shows them (redacted)."""
    return mail_frame.framed(messages.agent, [m.summary() for m in msgs], mount) + "\n"


class Waker:
    """Runs the wake command for one agent's mailbox.  ``notify`` says mail
    may have come (it never blocks); ``step`` is one round of the waker's
    thread: reap the command, and look at the mail when told of news or when
    mail seen before has waited ``after`` seconds."""

    def __init__(
        self,
        messages: Messages,
        command: str,
        spool: Path,
        *,
        mount: Path = Path("."),
        after: float = 30.0,
        timeout: float = 600.0,
        cwd: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.messages = messages
        self.argv = check_command(command)
        self.spool = spool
        self.mount = mount
        self.after = after
        self.timeout = timeout
        self.cwd = cwd
        self.clock = clock
        self.proc: subprocess.Popen[bytes] | None = None
        self.news = threading.Event()
        self._started = 0.0
        self._file: Path | None = None
        self._first_seen: dict[str, float] = {}
        self._missed = False  # news that came while the command ran
        self.looks = 0  # reads of the unread mail, for tests

    def notify(self) -> None:
        self.news.set()

    def next_wait(self) -> float | None:
        """Seconds until ``step`` has something to do without news (None: only news)."""
        if self.proc is not None:
            return REAP_S
        if self._missed:
            return RETRY_S
        if self._first_seen:
            return max(0.0, min(self._first_seen.values()) + self.after - self.clock())
        return None

    def _reap(self) -> bool:
        """True while the command still runs (killed past its timeout)."""
        if self.proc is None:
            return False
        code = self.proc.poll()
        if code is None and self.clock() - self._started > self.timeout:
            log.warning(
                "wake: %s (pid %d) ran past %gs; killing it",
                self.argv[0],
                self.proc.pid,
                self.timeout,
            )
            self._signal(signal.SIGKILL)
            code = self.proc.wait(timeout=EXIT_S)
        if code is None:
            return True
        log.info("wake: %s (pid %d) exited with %d", self.argv[0], self.proc.pid, code)
        if self._file is not None:
            self._file.unlink(missing_ok=True)
        self.proc = self._file = None
        return False

    def step(self) -> bool:
        """One round; True when it started the command."""
        news = self.news.is_set()
        self.news.clear()
        if self._reap():
            self._missed = self._missed or news  # at most one at a time: later
            return False
        news, self._missed = news or self._missed, False
        now = self.clock()
        due = bool(self._first_seen) and now - min(self._first_seen.values()) >= self.after
        if not (news or due):
            return False
        hold = due or self.after <= 0  # about to start: hold what it reads
        self.looks += 1
        try:
            unread = self.messages.unread(mail_frame.MAX_SHOWN, reserve=hold)
        except TcfsError:
            self._missed = True  # look again soon
            raise
        self._first_seen = {m.name: self._first_seen.get(m.name, now) for m in unread}
        if not unread or now - min(self._first_seen.values()) < self.after:
            if hold:
                self.messages.holds.release(m.name for m in unread)
            return False  # nothing, or too fresh: a live session takes it at its next prompt
        return self._start(unread)

    def _start(self, unread: list[Message]) -> bool:
        names = [m.name for m in unread]
        self.spool.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, name = tempfile.mkstemp(prefix="wake-", suffix=".txt", dir=self.spool)
        with os.fdopen(fd, "w", encoding="utf-8") as f:  # mkstemp: mode 0600
            f.write(render(self.messages, unread, self.mount))
        argv = [a.replace(PLACEHOLDER, name) for a in self.argv]
        try:
            with open(name, "rb") as stdin, self._output() as out:
                self.proc = subprocess.Popen(
                    argv, stdin=stdin, stdout=out, stderr=out, cwd=self.cwd, start_new_session=True
                )
        except OSError as exc:
            log.error("wake: cannot run %s: %s", self.argv[0], exc)
            os.unlink(name)
            self.messages.holds.release(names)
            now = self.clock()
            self._first_seen = dict.fromkeys(names, now)  # try again after another wait
            return False
        self._started, self._file = self.clock(), Path(name)
        self._first_seen.clear()
        log.info("wake: started %s (pid %d) for %s", json.dumps(argv), self.proc.pid, names)
        try:
            self.messages.ack(names)  # the file delivered them
        except TcfsError as exc:
            log.log(exc.level, "wake: could not mark %s read (%s): they may come again", names, exc)
        return True

    def _output(self) -> IO[bytes]:
        path = self.spool / "wake.log"
        try:
            if path.stat().st_size > LOG_MAX_BYTES:
                path.replace(path.with_name("wake.log.1"))  # at most two logs' worth on disk
        except FileNotFoundError:
            pass
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "ab")

    def _signal(self, sig: signal.Signals) -> None:
        """Signal the command and what it started (its own session's group)."""
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)
        except OSError:  # the group is gone already: the command itself, then
            self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            log.info("wake: stopping %s (pid %d): unmounting", self.argv[0], self.proc.pid)
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=EXIT_S)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=EXIT_S)
        if self._file is not None:
            self._file.unlink(missing_ok=True)


def start(
    poller: Poller,
    messages: Messages,
    command: str,
    *,
    mount: Path,
    after: float,
    timeout: float,
    cwd: str,
) -> Callable[[], None]:
    """Watch the mailbox through ``poller`` in a thread of the mount's daemon;
    returns what stops it."""
    from tcfs.config import runtime_dir

    spool = runtime_dir() / "wake"
    log.info("wake: %s after %gs of unread mail (at most %gs a run)", command, after, timeout)
    waker = Waker(messages, command, spool, mount=mount, after=after, timeout=timeout, cwd=cwd)
    unwatch = poller.watch_inbox(waker.notify)
    stop = run_in_thread(waker)

    def stop_all() -> None:
        unwatch()
        stop()

    return stop_all


def run_in_thread(waker: Waker) -> Callable[[], None]:
    """Run ``waker.step`` in a daemon thread, on news or when due, until the
    returned function is called."""
    done = threading.Event()

    def loop() -> None:
        while True:
            waker.news.wait(waker.next_wait())
            if done.is_set():
                break
            try:
                waker.step()
            except TcfsError as exc:  # the bucket is down: looked at again soon
                log.log(exc.level, "wake: %s", exc)
            except Exception:  # never take the mount down
                log.exception("wake: unexpected error")
        waker.stop()

    thread = threading.Thread(target=loop, name="tcfs-wake", daemon=True)
    thread.start()

    def stop() -> None:
        done.set()
        waker.news.set()
        thread.join(timeout=2 * EXIT_S)

    return stop
