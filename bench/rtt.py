"""Round trips: each command of an agent's day, from ``bash -c``, on a bucket with real latency.

On loopback a request costs about 5 ms, so requests sent one after the other
hide.  This section puts its own counting proxy in front of the S3 server
(moto, or SeaweedFS with ``--s3-server seaweedfs``) and runs every command with
0 ms and with ``RTT_MS`` (20 ms, in-region S3) added to each request, two ways:

* **cold**: the kernel's caches expired (the command runs ``COLD_S`` after the
  one before it, past the entry and attribute lifetimes of files and memory
  directories), as an agent that runs a command now and then;
* **warm**: right after the command before it (directory entries still cached);
  a read runs right after the same read.

Each command's time is set against its floor: the dependent round trips it
cannot avoid through FUSE (``Command.floor_rt``).  Requests are counted at the
proxy, split into those sent while the shell waited (the answer) and those sent
after it had its answer (background work the command caused), minus the
daemon's heartbeat of its agent record.  The peer CLI runs each operation it
has at 0 ms, one process per operation, as agents call it.
"""

from __future__ import annotations

import json
import shlex
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.context import Ctx, claim_doc
from bench.latency import cli_runner
from bench.mounts import Backend, Mount, start_mounts, stop_mounts
from bench.proxy import DEFAULT_RTT_MS
from bench.shell import run_bash
from bench.stats import ratio, summary
from tests.support.loopback_proxy import LoopbackProxy, Request, by_op

RTT_MS = DEFAULT_RTT_MS
#: longer than the kernel's lifetime of a file's entry (0.1 s) and of a memory
#: directory's (1 s); a directory that exists by its path alone (``steps/``,
#: ``outbox/``) stays cached for an hour, as for any agent working in the mount
COLD_S = 1.3
#: time left after a warm command for what it sends after the answer
SETTLE_S = 0.25
#: a lease that outlives the run, so no renewal lands in a count
LEASE_TTL_S = 3600.0
A, B = "rtt-a", "rtt-b"  # the acting agent and the other mount
CLI_RUNS = 3


@dataclass(frozen=True)
class Command:
    name: str
    floor_rt: int
    why: str  # the floor in words
    on: str  # the mount that runs it: A or B
    shell: str  # template: {m} the mountpoint, {t} the instance tag
    ok: bool = True  # whether the command succeeds
    prime: bool = False  # warm: run it once untimed right before
    cli: tuple[str, ...] = ()  # the peer CLI's arguments ({t} the instance tag)


# In the order an instance runs them: each needs what the ones before it left.
COMMANDS = [
    Command(
        "echo v > memory/a/k (new key)",
        2,
        "the kernel's lookup of the new name, then the write",
        A,
        "echo v > {m}/memory/rtt/k{t}",
        cli=("memory", "set", "rtt.cli{t}", "v"),
    ),
    Command(
        "cat memory/a/k (other mount)",
        1,
        "one GET: the lookup fetches the value and the open reuses it",
        B,
        "cat {m}/memory/rtt/k{t}",
        prime=True,
        cli=("memory", "get", "rtt.cli{t}"),
    ),
    Command(
        "echo me > steps/s/claim (wins)",
        2,
        "the kernel's lookup, then the conditional PUT that decides",
        A,
        "echo me > {m}/steps/s{t}/claim",
        cli=("claim", "cli{t}"),
    ),
    Command(
        "echo me > steps/s/claim (loses)",
        2,
        "the kernel's lookup, then the conditional PUT that is refused",
        B,
        "echo me > {m}/steps/s{t}/claim",
        ok=False,
        cli=("claim", "held{t}"),
    ),
    Command(
        "cat steps/s/status",
        1,
        "claim and status read together (fencing needs both)",
        B,
        "cat {m}/steps/s{t}/status",
        prime=True,
        cli=("step-status", "cli{t}"),
    ),
    Command(
        "echo hi > outbox/b",
        1,
        "one PUT (the message)",
        A,
        f"echo hi > {{m}}/outbox/{B}",
        cli=("send", B, "hi"),
    ),
    Command(
        "echo done > steps/s/handoff",
        2,
        "the kernel's lookup, then the handoff written",
        A,
        "echo done > {m}/steps/s{t}/handoff",
        cli=("complete", "cli{t}", "--note", "done"),
    ),
]


def _counted(ev: Request) -> bool:
    """Requests a command caused: not the daemons' heartbeat of their agent records."""
    return "/agents/" not in f"/{ev.key}"


def critical_path(events: list[Request], rtt_ms: float) -> tuple[int, float]:
    """(rounds, the server's ms on them) of one command's requests at ``rtt_ms``:
    requests that arrive within half a round trip of a round's first travel
    together, and a round costs its slowest request's server time."""
    rounds: list[float] = []
    first = float("-inf")
    for e in sorted(events, key=lambda e: e.began):
        if e.began - first > rtt_ms / 2000:
            first = e.began
            rounds.append(0.0)
        rounds[-1] = max(rounds[-1], e.upstream_ms)
    return len(rounds), sum(rounds)


def shell_times(root: Path, n: int) -> dict[str, float]:
    """Median ms of the shell alone, cold: ``cat`` of a local file and ``echo``
    into one, run ``COLD_S`` apart like the commands, so a command's time can be
    split into what the mount costs and what bash and coreutils cost anyway."""
    d = root / "rtt-shell"
    d.mkdir(parents=True, exist_ok=True)
    (d / "k").write_text("v\n")
    cmds = {
        "cat": f"cat {shlex.quote(str(d / 'k'))}",
        "echo": f"echo v > {shlex.quote(str(d / 'w'))}",
    }
    samples: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(n):
        for kind, cmd in cmds.items():
            time.sleep(COLD_S)
            s = time.perf_counter()
            run_bash(cmd)
            samples[kind].append(time.perf_counter() - s)
    return {k: float(summary(v)["median_ms"]) for k, v in samples.items()}


def _shell_kind(c: Command) -> str:
    return "cat" if c.shell.startswith("cat ") else "echo"


class Phase:
    """One pass over every command ``n`` times, at one added round trip, cold or warm."""

    def __init__(
        self,
        proxy: LoopbackProxy,
        bucket: str,
        mounts: dict[str, Path],
        rtt_ms: float,
        cold: bool,
        pad_ms: float = 0.0,
    ) -> None:
        self.proxy, self.bucket, self.mounts = proxy, bucket, mounts
        self.rtt_ms, self.cold, self.pad_ms = rtt_ms, cold, pad_ms
        self.samples: dict[str, list[float]] = {c.name: [] for c in COMMANDS}
        self.answer: dict[str, list[Request]] = {c.name: [] for c in COMMANDS}
        self.after: dict[str, list[Request]] = {c.name: [] for c in COMMANDS}
        self.rounds: dict[str, list[int]] = {c.name: [] for c in COMMANDS}
        self.server_ms: dict[str, list[float]] = {c.name: [] for c in COMMANDS}
        self.bad: Counter[str] = Counter()

    def _events(self, since: float, until: float) -> list[Request]:
        return [e for e in self.proxy.events(self.bucket, since, until) if _counted(e)]

    def run(self, n: int, tag: str) -> None:
        self.proxy.rtt_ms, self.proxy.pad_ms = self.rtt_ms, self.pad_ms
        for i in range(n):
            t = f"{tag}x{i}"
            for c in COMMANDS:
                cmd = c.shell.format(m=shlex.quote(str(self.mounts[c.on])), t=t)
                time.sleep(COLD_S if self.cold else SETTLE_S)
                if c.prime and not self.cold:
                    run_bash(cmd)
                t0 = time.monotonic()
                s = time.perf_counter()
                status = run_bash(cmd)
                took = time.perf_counter() - s
                t1 = time.monotonic()
                # what the command sends after the answer lands before the next one starts
                time.sleep(SETTLE_S)
                self.samples[c.name].append(took)
                answer = self._events(t0, t1)
                rounds, server = critical_path(answer, self.rtt_ms or self.pad_ms)
                self.rounds[c.name].append(rounds)
                self.server_ms[c.name].append(server)
                self.answer[c.name] += answer
                self.after[c.name] += self._events(t1, time.monotonic())
                if (status == 0) != c.ok:
                    self.bad[c.name] += 1

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for c in COMMANDS:
            n = len(self.samples[c.name])
            out.append(
                {
                    "command": c.name,
                    "rtt_ms": self.rtt_ms,
                    "pad_ms": self.pad_ms,
                    "mode": "cold" if self.cold else "warm",
                    **summary(self.samples[c.name]),
                    "requests": round(len(self.answer[c.name]) / max(n, 1), 2),
                    "requests_after": round(len(self.after[c.name]) / max(n, 1), 2),
                    "ops": by_op(self.answer[c.name]),
                    "ops_after": by_op(self.after[c.name]),
                    "rounds": statistics.median(self.rounds[c.name]) if n else None,
                    "server_ms": statistics.median(self.server_ms[c.name]) if n else None,
                    "misbehaved": self.bad[c.name],
                }
            )
        return out


def cli_times(ctx: Ctx, backend: Backend, runs: int) -> dict[str, float]:
    """Median ms of each command's peer-CLI equivalent at 0 ms added (loopback)."""
    run = cli_runner(ctx, backend, agent=A)
    if run is None:
        return {}
    # steps the CLI loses: held by someone else, written straight to moto (uncounted)
    ctx.seed(backend, [(f"steps/held{i}/claim.json", claim_doc("holder")) for i in range(runs)])
    samples: dict[str, list[float]] = {c.name: [] for c in COMMANDS if c.cli}
    for i in range(runs):
        for c in COMMANDS:
            if not c.cli:
                continue
            args = [a.format(t=i) for a in c.cli]
            s = time.perf_counter()
            status = run(*args)
            samples[c.name].append(time.perf_counter() - s)
            if (status == 0) != c.ok:
                ctx.note(f"rtt: tracecraft {' '.join(args)} exited {status}")
    return {k: float(summary(v)["median_ms"]) for k, v in samples.items()}


def table(
    rows: list[dict[str, Any]], cli_ms: dict[str, float], shell_ms: dict[str, float]
) -> list[dict[str, Any]]:
    """One line per command: the four timings, round trips at RTT_MS, ratios."""
    by = {(r["command"], r["rtt_ms"], r["mode"], r.get("pad_ms", 0.0)): r for r in rows}
    out = []
    for c in COMMANDS:

        def med(rtt: float, mode: str, pad: float = 0.0, c: Command = c) -> float:
            r = by.get((c.name, rtt, mode, pad))
            return float(r["median_ms"]) if r else float("nan")

        cold20, cold0 = med(RTT_MS, "cold"), med(0.0, "cold")
        warm0 = med(0.0, "warm")
        cold_r = by.get((c.name, RTT_MS, "cold", 0.0), {})
        shell = shell_ms.get(_shell_kind(c), float("nan"))
        rounds, server = cold_r.get("rounds"), cold_r.get("server_ms")
        rest = (
            cold20 - shell - rounds * RTT_MS - server
            if rounds is not None and server is not None
            else float("nan")
        )
        out.append(
            {
                "command": c.name,
                "floor_rt": c.floor_rt,
                "why": c.why,
                "cold_0": cold0,
                "warm_0": warm0,
                "cold_20": cold20,
                "warm_20": med(RTT_MS, "warm"),
                # the goal's measure: the command's whole time in round trips
                "cold_20_rt": cold20 / RTT_MS,
                "over_floor": cold20 / RTT_MS / c.floor_rt,
                # what the added latency alone cost: dependent round trips
                "dependent_rt": (cold20 - cold0) / RTT_MS,
                # the second view: every request 20 ms in all, the server's time in it
                "cold_pad": med(0.0, "cold", RTT_MS),
                "pad_over_floor": med(0.0, "cold", RTT_MS) / RTT_MS / c.floor_rt,
                "requests": cold_r.get("requests"),
                "requests_after": cold_r.get("requests_after"),
                "ops": cold_r.get("ops", {}),
                "ops_after": cold_r.get("ops_after", {}),
                # where the cold +20 ms time goes: the added round trips, the
                # server's time on them, the shell alone, and the rest (the
                # daemon, the kernel, the proxy's relay)
                "rounds": rounds,
                "server_ms": server,
                "shell_ms": shell,
                "rest_ms": rest,
                "cli_0": cli_ms.get(c.name, float("nan")),
                "cli_over_warm": ratio(cli_ms.get(c.name, float("nan")), warm0),
            }
        )
    return out


def compare(lines: list[dict[str, Any]], baseline: Path) -> None:
    """Add the same figures from an earlier run (``baseline``, a results.json) to each line."""
    try:
        before = {
            line["command"]: line for line in json.loads(baseline.read_text())["rtt"]["table"]
        }
    except (OSError, KeyError, ValueError):
        return
    for line in lines:
        b = before.get(line["command"])
        if b:
            line["before"] = {k: b.get(k) for k in ("cold_0", "warm_0", "cold_20", "requests")}


def run(ctx: Ctx, baseline: Path | None = None) -> dict[str, Any]:
    assert ctx.moto is not None
    # nine, not five: a median of five cold samples moved by 1-2 ms from run to run
    n_cold = 2 if ctx.quick else 9
    n_warm = 3 if ctx.quick else 8
    proxy = LoopbackProxy(ctx.moto.port)
    mounts: list[Mount] = []
    try:
        bucket = f"bench-rtt-{int(time.time() * 1000) % 10**8}"
        ctx.direct.create_bucket(Bucket=bucket)
        backend = Backend("s3", bucket, endpoint=proxy.endpoint)
        mounts = [
            Mount(ctx.reaper, ctx.root, backend, agent, lease_ttl=LEASE_TTL_S) for agent in (A, B)
        ]
        start_mounts(mounts)
        paths = {m.agent: m.path for m in mounts}
        rows: list[dict[str, Any]] = []
        for rtt in (0.0, RTT_MS):
            for cold in (True, False):
                phase = Phase(proxy, bucket, paths, rtt, cold)
                mode = "cold" if cold else "warm"
                ctx.log(f"rtt: +{rtt:g} ms, {mode}")
                phase.run(n_cold if cold else n_warm, f"{mode[0]}{int(rtt)}")
                for r in phase.rows():
                    rows.append(r)
                    ctx.log(
                        f"  {r['command']:34} median {r['median_ms']:7.1f} ms  "
                        f"req {r['requests']:.2f} + {r['requests_after']:.2f} after"
                    )
                    if r["misbehaved"]:
                        ctx.note(f"rtt {mode} +{rtt:g} ms {r['command']}: {r['misbehaved']} wrong")
        # the second view: each request padded to RTT_MS in all (cold only)
        phase = Phase(proxy, bucket, paths, 0.0, True, pad_ms=RTT_MS)
        ctx.log(f"rtt: every request {RTT_MS:g} ms in all, cold")
        phase.run(n_cold, "p")
        rows += phase.rows()
        proxy.rtt_ms = proxy.pad_ms = 0.0
        cli_ms = cli_times(ctx, backend, 2 if ctx.quick else CLI_RUNS)
        ctx.log("rtt: the shell alone, cold")
        shell_ms = shell_times(ctx.root, n_cold)
    finally:
        stop_mounts(mounts)
        proxy.close()
    lines = table(rows, cli_ms, shell_ms)
    if baseline is not None:
        compare(lines, baseline)
    return {"rtt_ms": RTT_MS, "cold_s": COLD_S, "rows": rows, "table": lines}


# ----- reporting -----


def _ms(x: Any) -> str:
    return "–" if x is None or x != x else f"{x:.1f}"


def markdown(section: dict[str, Any]) -> list[str]:
    rtt = section["rtt_ms"]
    md = [
        "",
        f"## Round trips: each command from `bash -c`, +0 and +{rtt:g} ms per request",
        "",
        f"cold: the command runs {section['cold_s']:g} s after the previous one (the kernel's "
        "entries of files and memory directories expired; directories that exist by their "
        "path alone stay cached); warm: right after it.  RT = the cold time at "
        f"+{rtt:g} ms in round trips; dependent RT = (cold +{rtt:g} − cold +0) / {rtt:g} ms. "
        "Requests are per command, counted at the proxy (cold, +20 ms): sent while the "
        "shell waited + sent after it had its answer.",
        "",
        "| command | floor RT | cold +0 ms | warm +0 ms | cold +20 ms | warm +20 ms | RT "
        "| RT/floor | dependent RT | requests | peer CLI +0 ms | CLI/warm |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for line in section["table"]:
        md.append(
            f"| `{line['command']}` | {line['floor_rt']} | {_ms(line['cold_0'])} | "
            f"{_ms(line['warm_0'])} | {_ms(line['cold_20'])} | {_ms(line['warm_20'])} | "
            f"{line['cold_20_rt']:.2f} | {line['over_floor']:.2f}x | "
            f"{line['dependent_rt']:.2f} | {line['requests']} + {line['requests_after']} | "
            f"{_ms(line['cli_0'])} | {line['cli_over_warm']:.0f}x |"
        )
    padded = [line for line in section["table"] if line.get("cold_pad") == line.get("cold_pad")]
    if padded and "cold_pad" in padded[0]:
        md += [
            "",
            f"A second view: every request takes {rtt:g} ms in all, "
            "the server's own time included (as a cloud round trip does), instead of "
            f"the server's time plus {rtt:g} ms; cold, from `bash -c`.",
            "",
            "| command | floor RT | cold ms | RT | RT/floor |",
            "|---|---|---|---|---|",
        ]
        for line in padded:
            md.append(
                f"| `{line['command']}` | {line['floor_rt']} | {_ms(line['cold_pad'])} | "
                f"{line['cold_pad'] / rtt:.2f} | {line['pad_over_floor']:.2f}x |"
            )
    split = [line for line in section["table"] if line.get("rounds") is not None]
    if split:
        md += [
            "",
            f"Where a cold command's time at +{rtt:g} ms goes: the round trips the proxy "
            "added (rounds of requests sent together, one after the other), the server's "
            "own time on them (its slowest request per round, measured at the proxy), the "
            "shell alone (`bash -c` running `cat` of a local file, or `echo` into one, "
            f"{section['cold_s']:g} s apart like the commands), and the rest: the daemon, "
            "the kernel's FUSE requests and the proxy's relay.",
            "",
            "| command | cold +20 ms | rounds | added ms | server ms | shell alone ms "
            "| the rest ms |",
            "|---|---|---|---|---|---|---|",
        ]
        for line in split:
            md.append(
                f"| `{line['command']}` | {_ms(line['cold_20'])} | {line['rounds']:g} | "
                f"{line['rounds'] * rtt:.0f} | {_ms(line['server_ms'])} | "
                f"{_ms(line['shell_ms'])} | {_ms(line['rest_ms'])} |"
            )
    before = [line for line in section["table"] if "before" in line]
    if before:
        md += [
            "",
            "Against the baseline run (ms, before → now):",
            "",
            "| command | cold +0 ms | warm +0 ms | cold +20 ms | requests |",
            "|---|---|---|---|---|",
        ]
        for line in before:
            b = line["before"]
            md.append(
                f"| `{line['command']}` | {_ms(b['cold_0'])} → {_ms(line['cold_0'])} | "
                f"{_ms(b['warm_0'])} → {_ms(line['warm_0'])} | "
                f"{_ms(b['cold_20'])} → {_ms(line['cold_20'])} | "
                f"{b['requests']} → {line['requests']} |"
            )
    md += ["", "Requests by operation (cold, +20 ms; answer / after):", ""]
    for line in section["table"]:
        md.append(f"- `{line['command']}`: {line['ops']} / {line['ops_after']}")
    return md


def stdout(section: dict[str, Any]) -> list[str]:
    out = [
        f"\nround trips (+{section['rtt_ms']:g} ms per request, bash -c, medians ms):",
        f"  {'command':34} {'floor':>5} {'cold+0':>7} {'warm+0':>7} {'cold+20':>8} "
        f"{'RT':>5} {'RT/floor':>8} {'dep RT':>6} {'req':>10} {'CLI/warm':>8}",
    ]
    for line in section["table"]:
        out.append(
            f"  {line['command']:34} {line['floor_rt']:>5} {_ms(line['cold_0']):>7} "
            f"{_ms(line['warm_0']):>7} {_ms(line['cold_20']):>8} {line['cold_20_rt']:5.2f} "
            f"{line['over_floor']:7.2f}x {line['dependent_rt']:6.2f} "
            f"{line['requests']!s:>4} + {line['requests_after']!s:<4} "
            f"{line['cli_over_warm']:7.0f}x"
        )
    if any("cold_pad" in line for line in section["table"]):
        out.append(f"  every request {section['rtt_ms']:g} ms in all (second view), cold:")
        for line in section["table"]:
            out.append(
                f"  {line['command']:34} {_ms(line.get('cold_pad')):>8} ms "
                f"{line.get('pad_over_floor', float('nan')):5.2f}x floor"
            )
    return out


def goals(section: dict[str, Any]) -> list[dict[str, Any]]:
    lines = section.get("table", [])
    if not lines:
        return []
    over = [line for line in lines if not line["over_floor"] <= 1.5]
    padded = [line for line in lines if line.get("cold_pad") == line.get("cold_pad")]
    pad_over = [line for line in padded if not line["pad_over_floor"] <= 1.5]
    cli = [line for line in lines if line["cli_0"] == line["cli_0"]]
    slow_cli = [line for line in cli if not line["cli_over_warm"] >= 30]
    slower = [
        line
        for line in lines
        if "before" in line
        and line["before"]["cold_0"] is not None
        and line["cold_0"] > line["before"]["cold_0"] * 1.1
    ]
    worst = max(lines, key=lambda line: line["over_floor"])
    g = [
        {
            "key": "rtt",
            "goal": f"every command cold within 1.5x of its floor at +{section['rtt_ms']:g} ms",
            "met": not over,
            "figure": f"worst {worst['command']} {worst['over_floor']:.2f}x"
            + (f"; over: {', '.join(line['command'] for line in over)}" if over else ""),
            "missed": [line["command"] for line in over],
        }
    ]
    if padded:
        pad_worst = max(padded, key=lambda line: line["pad_over_floor"])
        g.append(
            {
                "key": "rtt-padded",
                "goal": f"the same, every request {section['rtt_ms']:g} ms in all (the server's "
                "time in it, as on a cloud bucket)",
                "met": not pad_over,
                "figure": f"worst {pad_worst['command']} {pad_worst['pad_over_floor']:.2f}x"
                + (
                    f"; over: {', '.join(line['command'] for line in pad_over)}" if pad_over else ""
                ),
                "missed": [line["command"] for line in pad_over],
            }
        )
    if cli:
        least = min(cli, key=lambda line: line["cli_over_warm"])
        g.append(
            {
                "key": "rtt-peer",
                "goal": "warm, on loopback: >= 30x faster than the peer CLI (bash -c)",
                "met": not slow_cli,
                "figure": f"least {least['command']} {least['cli_over_warm']:.0f}x",
                "missed": [line["command"] for line in slow_cli],
            }
        )
    if any("before" in line for line in lines):
        g.append(
            {
                "key": "rtt-before",
                "goal": "no command slower than the baseline at +0 ms (cold, 10% noise)",
                "met": not slower,
                "figure": ", ".join(line["command"] for line in slower) or "none slower",
                "missed": [line["command"] for line in slower],
            }
        )
    return g
