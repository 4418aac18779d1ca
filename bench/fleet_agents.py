"""Simulated agents for the scale benchmark: protocol-level, many per process.

Each agent is a thread with its own ``Project`` on its process's one S3 store,
and loops over a realistic mix until the window ends:

1. claim a step from its team's pool (teams of ``TEAM`` agents race for the
   same steps; a lost claim moves on to the next step);
2. work (sleep, like a model thinking);
3. set a memory value, message a teammate;
4. hand the step off (complete: rings the waiters' bells);
5. wait on a dependency (the step a teammate holds) and on its inbox, with the
   same ``Waiting`` passes a mount's poller runs, one pass a second.

Every operation is timed; every claim won is reported, so the driver can count
double winners across processes and check them against the bucket.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from typing import Any

from tcfs.protocol.agents import HEARTBEAT_S

TEAM = 10
#: the work between two coordination bursts, seconds (a model turn or two)
WORK_S = (20.0, 40.0)
#: how long an agent waits on its dependency and inbox before working again
WAIT_S = 15.0
PASS_S = 1.0
LEASE_TTL_S = 60.0
RENEW_EVERY_S = LEASE_TTL_S / 4


class Shared:
    """What the agents of one process tell each other (never through the bucket)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holding: dict[str, str] = {}  # agent -> step it holds
        self.completed_at: dict[str, float] = {}  # step -> wall time its handoff returned
        self.next_step: dict[int, int] = defaultdict(int)  # team -> lowest step worth trying
        self.lat: dict[str, list[float]] = defaultdict(list)  # op -> ms
        self.fresh: dict[str, list[float]] = defaultdict(list)  # what -> s
        self.wins: list[tuple[str, str, int]] = []  # (step, agent, epoch)
        self.errors: dict[str, int] = defaultdict(int)
        self.cycles = 0


def _timed(shared: Shared, op: str, fn: Any, *args: Any, **kw: Any) -> Any:
    t = time.monotonic()
    try:
        return fn(*args, **kw)
    finally:
        ms = (time.monotonic() - t) * 1000
        with shared.lock:
            shared.lat[op].append(ms)


def _claim(p: Any, team: int, shared: Shared) -> str | None:
    from tcfs.errors import ClaimTaken, TcfsError

    with shared.lock:
        # teammates aim at different steps near the team's front, and collide
        # when two aim at the same one, as agents working one plan do
        k = shared.next_step[team] + random.randrange(TEAM)
    for _ in range(TEAM * 2):
        step = f"t{team:03d}-s{k:04d}"
        try:
            claim = _timed(shared, "claim", p.steps.claim, step)
        except ClaimTaken:
            with shared.lock:
                shared.lat["claim lost"].append(shared.lat["claim"].pop())
            k += 1
            continue
        except TcfsError as exc:
            with shared.lock:
                shared.errors[f"claim: {type(exc).__name__}"] += 1
            return None
        with shared.lock:
            shared.wins.append((step, p.agent, int(claim.epoch or 0)))
            shared.next_step[team] = max(shared.next_step[team], k + 1)
            shared.holding[p.agent] = step
        return step
    return None


def _wait(p: Any, dep: str | None, shared: Shared, deadline: float) -> None:
    """Block on ``dep`` and the inbox the way a mount's poller does."""
    from tcfs.errors import TcfsError

    started = time.time()
    end = min(deadline, time.monotonic() + WAIT_S)
    waiting = p.waiting
    if dep is not None:
        status = _timed(shared, "wait: subscribe", waiting.add_step, dep)
        if status is not None and status.status == "complete":
            waiting.remove_step(dep)
            dep = None
    fresh = True
    try:
        while time.monotonic() < end:
            look = _timed(shared, "wait: pass", waiting.look, inbox=True, fresh_reader=fresh)
            fresh = False
            # the poller's reading: the bell's hint, broadcasts only when they
            # may hold news, and no further reading once nothing more was listed
            hint, more = look.newest, look.inbox
            while more:
                msg, more = _timed(
                    shared, "inbox: next", p.messages.take_next, broadcast=look.broadcast, hint=hint
                )
                hint = None
                if msg is None:
                    break
                sent = _sent_at(msg.text)
                if sent is not None and sent >= started:
                    with shared.lock:
                        shared.fresh["message"].append(time.time() - sent)
            st = look.statuses.get(dep) if dep is not None else None
            if st is not None and st.status == "complete":
                with shared.lock:
                    done = shared.completed_at.get(dep)
                if done is not None and done >= started:
                    with shared.lock:
                        shared.fresh["completion"].append(time.time() - done)
                waiting.remove_step(dep)
                dep = None
            time.sleep(PASS_S)
    except TcfsError as exc:
        with shared.lock:
            shared.errors[f"wait: {type(exc).__name__}"] += 1
    finally:
        if dep is not None:
            waiting.remove_step(dep)


def _sent_at(text: str) -> float | None:
    head = text.split(" ", 1)[0]
    try:
        return float(head)
    except ValueError:
        return None


def agent_loop(
    p: Any, index: int, team: int, peers: list[str], shared: Shared, deadline: float
) -> None:
    from tcfs.errors import TcfsError

    rng = random.Random(index)
    # agents start spread over the first work period, as a real fleet would
    time.sleep(rng.uniform(0, WORK_S[0]))
    try:
        _timed(shared, "register", p.agents.register, "scale benchmark agent")
    except TcfsError as exc:
        with shared.lock:
            shared.errors[f"register: {type(exc).__name__}"] += 1
    last_beat = last_renew = time.monotonic()
    while time.monotonic() < deadline:
        try:
            step = _claim(p, team, shared)
            work_end = time.monotonic() + rng.uniform(*WORK_S)
            while time.monotonic() < min(work_end, deadline):
                time.sleep(min(1.0, max(0.0, work_end - time.monotonic())))
                now = time.monotonic()
                if now - last_renew >= RENEW_EVERY_S:
                    _timed(shared, "lease renewal", p.steps.renew_all)
                    last_renew = now
                if now - last_beat >= HEARTBEAT_S:
                    _timed(shared, "heartbeat", p.agents.heartbeat, step)
                    last_beat = now
            if time.monotonic() >= deadline:
                break
            peer = peers[rng.randrange(len(peers))]
            _timed(shared, "memory set", p.memory.set, [f"t{team:03d}", p.agent], f"cycle {step}")
            _timed(shared, "send", p.messages.send, peer, f"{time.time():.6f} from {p.agent}")
            if step is not None:
                _timed(shared, "handoff", p.steps.handoff, step, note="done", next_agent=peer)
                with shared.lock:
                    shared.completed_at[step] = time.time()
                    shared.holding.pop(p.agent, None)
            with shared.lock:
                dep = shared.holding.get(peers[(index + 1) % len(peers)])
                shared.cycles += 1
            _wait(p, dep, shared, deadline)
        except Exception as exc:  # counted, never fatal: the run must report
            with shared.lock:
                shared.errors[type(exc).__name__] += 1
            time.sleep(1.0)


def run_worker(spec: dict[str, Any], out: Any) -> None:
    """One process: ``spec["agents"]`` (index, name) pairs, teams kept whole."""
    import resource

    from tcfs.protocol import Project
    from tcfs.store.s3 import S3Store

    store = S3Store(
        spec["bucket"],
        "proj",
        endpoint=spec["endpoint"],
        path_style=True,
        access_key=spec["access_key"],
        secret_key=spec["secret_key"],
    )
    shared = Shared()
    names = {i: name for i, name in spec["agents"]}
    teams: dict[int, list[str]] = defaultdict(list)
    for i, name in spec["agents"]:
        teams[i // TEAM].append(name)
    deadline = time.monotonic() + spec["seconds"]
    threads = []
    projects = []
    for i, name in names.items():
        p = Project(store, name, lease_ttl=LEASE_TTL_S)
        projects.append(p)
        team = i // TEAM
        peers = [a for a in teams[team] if a != name] or [name]
        t = threading.Thread(
            target=agent_loop, args=(p, i, team, peers, shared, deadline), daemon=True
        )
        threads.append(t)
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=spec["seconds"] + 60)
    for p in projects:
        p.close(timeout=0.5)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.put(
        {
            "wins": shared.wins,
            "lat": dict(shared.lat),
            "fresh": dict(shared.fresh),
            "errors": dict(shared.errors),
            "cycles": shared.cycles,
            "agents": len(names),
            "maxrss_kb": usage.ru_maxrss,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "hung": sum(t.is_alive() for t in threads),
        }
    )
