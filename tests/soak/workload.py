"""What the soak's agents do: real shell commands on their mounts, recorded.

Each agent runs rounds of three commands from ``bash -c``, one at a time, each
under a timeout: a claim race on a shared step (or, for a step it was told it
holds, a release), a message to a peer, a memory set.  Once per run an agent
freezes its daemon (SIGSTOP) for longer than a lease, as a machine that stalls
would: its leases lapse and the others take them over.  Every command's outcome
is kept: exit status, the errno its error names, the time it took.  Texts and
values are unique, so the bucket can be checked for each acknowledged one.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

#: strerror text → errno name, to read the error a shell printed
_STRERROR = {os.strerror(n): name for n, name in errno.errorcode.items()}


@dataclass(frozen=True)
class Outcome:
    agent: str
    kind: str  # claim, release, send, set
    target: str  # the step, the recipient, the memory key
    arg: str  # the message text or memory value ("" for claims)
    start: float  # wall clock
    end: float
    rc: int | None  # None: the command outlived its bound
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def result(self) -> str:
        """ "ok", "hung", or the errno name the shell reported (EEXIST, EIO, ...)."""
        if self.rc == 0:
            return "ok"
        if self.rc is None:
            return "hung"
        message = self.stderr.strip().splitlines()[-1] if self.stderr.strip() else ""
        return _STRERROR.get(message.rsplit(": ", 1)[-1], f"rc={self.rc}")


@dataclass(frozen=True)
class Plan:
    steps: tuple[str, ...]
    memory_keys: tuple[str, ...]
    seconds: float  # each agent stops starting rounds after this long
    max_rounds: int
    bound: float  # the timeout of one command
    seed: int
    pause: float = 0.0  # how long each agent freezes its daemon once (0: never)


#: failures that tell the agent it does not hold the step (lost, not holder, unclaimed)
TOLD_NOT_HOLDER = ("EEXIST", "EPERM", "ENOENT")


def told_holds(before: bool, out: Outcome) -> bool:
    """Whether an agent was told it holds ``out.target`` after ``out``.

    A won claim (or renewal) says yes, a released step says no, and so does an
    error that names another holder.  Any other failure (EIO, EAGAIN, ETIMEDOUT)
    tells nothing: the step is as it was, as far as the agent knows.
    """
    if out.kind == "claim" and out.ok:
        return True
    if out.ok or out.result in TOLD_NOT_HOLDER:
        return False
    return before


def run_command(cwd: Path, cmd: str, bound: float) -> tuple[int | None, str, float, float]:
    start = time.time()
    try:
        proc = subprocess.run(
            ["bash", "-c", cmd],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=bound,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return None, f"no answer within {bound:g}s", start, time.time()
    return proc.returncode, proc.stderr, start, time.time()


class Agent:
    """One agent's shell loop on its mount, in a thread of its own."""

    def __init__(
        self, name: str, mountpoint: Path, daemon: int, peers: list[str], plan: Plan, index: int
    ) -> None:
        self.name = name
        self.cwd = mountpoint
        self.daemon = daemon  # the daemon's pid
        self.peers = peers
        self.plan = plan
        self.rng = random.Random(plan.seed * 1000 + index)
        self.outcomes: list[Outcome] = []
        self.held: set[str] = set()  # steps this agent was told it holds
        self.pauses: list[tuple[float, float]] = []
        # agents freeze one after another, spread over the run's middle
        self.freeze_after = (0.15 + 0.15 * index) * plan.seconds

    def _do(self, kind: str, target: str, arg: str, cmd: str) -> Outcome:
        rc, err, start, end = run_command(self.cwd, cmd, self.plan.bound)
        out = Outcome(self.name, kind, target, arg, start, end, rc, err)
        self.outcomes.append(out)
        return out

    def _claim_or_release(self) -> None:
        # Half the time an agent tends a step it holds: renews it by claiming it
        # again, or releases it; otherwise it races for any step.
        if self.held and self.rng.random() < 0.5:
            step = self.rng.choice(sorted(self.held))
            release = self.rng.random() < 0.4
        else:
            step, release = self.rng.choice(self.plan.steps), False
        if release:
            out = self._do("release", step, "", f"rm steps/{step}/claim")
        else:
            out = self._do("claim", step, "", f"echo me > steps/{step}/claim")
        if told_holds(step in self.held, out):
            self.held.add(step)
        else:
            self.held.discard(step)

    def round(self, n: int) -> None:
        self._claim_or_release()
        peer = self.rng.choice(self.peers)
        text = f"{self.name}-msg-{n}-{self.rng.getrandbits(32):08x}"
        self._do("send", peer, text, f"echo {text} > outbox/{peer}")
        key = self.rng.choice(self.plan.memory_keys)
        value = f"{self.name}-v{n}-{self.rng.getrandbits(32):08x}"
        self._do("set", key, value, f"echo {value} > memory/soak/{key}")

    def freeze(self) -> None:
        """Stop the daemon for ``plan.pause`` seconds; no command runs meanwhile."""
        start = time.time()
        os.kill(self.daemon, signal.SIGSTOP)
        try:
            time.sleep(self.plan.pause)
        finally:
            os.kill(self.daemon, signal.SIGCONT)
        self.pauses.append((start, time.time()))

    def run(self) -> None:
        began = time.monotonic()
        deadline = began + self.plan.seconds
        freeze_at = began + self.freeze_after
        for n in range(self.plan.max_rounds):
            now = time.monotonic()
            if now >= deadline:
                return
            if self.plan.pause and not self.pauses and now >= freeze_at:
                self.freeze()
            self.round(n)


def run_agents(agents: list[Agent]) -> list[Outcome]:
    """Run every agent's loop at once; every outcome, in start order."""
    threads = [threading.Thread(target=a.run, name=a.name) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        # each command is bounded, so each loop is: rounds x 3 commands x bound
        t.join()
    return sorted((o for a in agents for o in a.outcomes), key=lambda o: o.start)
