"""N agents racing for the same M steps: claims per second and double winners.

Every agent tries every step, in the same order, so each step is contested by
all N at once.  An agent "wins" a step when its claim succeeded (for a mount:
``echo me > steps/<id>/claim`` exited 0).  A double winner is a step that two
agents believe they won, or whose winner is not the holder the bucket records;
both are read back from the bucket after the race.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.context import Ctx
from bench.mounts import Backend, Mount, start_mounts, stop_mounts
from bench.procs import PY, stop_all
from tcfs.protocol import keys


def _agent_script(mnt: Path, agent: str, steps: list[str]) -> str:
    loop = " ".join(steps)
    return (
        "read _go\n"
        f"for s in {loop}; do\n"
        f'  if {{ echo {agent} > "{mnt}/steps/$s/claim"; }} 2>/dev/null; then echo "W $s"; fi\n'
        "done\n"
    )


def verify(
    ctx: Ctx, backend: Backend, steps: list[str], winners: dict[str, list[str]]
) -> dict[str, int]:
    """Compare what agents believe with the holder each step's claim.json names."""
    double = unclaimed = mismatched = 0
    for s in steps:
        believed = winners.get(s, [])
        doc = ctx.get_json(backend, keys.claim_key(s))
        holder = doc.get("agent") if doc else None
        if len(believed) > 1:
            double += 1
        elif len(believed) == 1 and believed[0] != holder:
            mismatched += 1
        if not believed:
            unclaimed += 1
    return {"double_winners": double + mismatched, "steps_without_winner": unclaimed}


def race_mounts(ctx: Ctx, backend: Backend, n: int, m: int) -> dict[str, Any]:
    steps = [f"race-{k}" for k in range(m)]
    agents = [f"racer-{i}" for i in range(n)]
    mounts = [Mount(ctx.reaper, ctx.root, backend, a) for a in agents]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        start_mounts(mounts)
        for mt in mounts:
            script = _agent_script(mt.path, mt.agent, steps)
            procs.append(
                ctx.reaper.spawn(
                    ["bash", "-c", script],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
            )
        t0 = time.monotonic()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(b"go\n")
            p.stdin.flush()
        winners: dict[str, list[str]] = {}
        for mt, p in zip(mounts, procs, strict=True):
            out, _ = p.communicate(timeout=240)
            for line in out.decode().splitlines():
                if line.startswith("W "):
                    winners.setdefault(line[2:], []).append(mt.agent)
        wall = time.monotonic() - t0
    finally:
        stop_mounts(mounts)
        stop_all(procs)
        for p in procs:
            if p in ctx.reaper.procs:
                ctx.reaper.procs.remove(p)
    return _row(ctx, backend, "mounts (bash)", n, m, wall, steps, winners)


def race_processes(ctx: Ctx, backend: Backend, n: int, m: int) -> dict[str, Any]:
    steps = [f"race-{k}" for k in range(m)]
    spec = {
        "kind": backend.kind,
        "bucket": backend.bucket,
        "project": backend.project,
        "endpoint": backend.endpoint,
        "steps": steps,
    }
    from bench.procs import base_env

    home = ctx.root / "home" / f"claimer-{Path(backend.bucket).name}"
    home.mkdir(parents=True, exist_ok=True)
    proc = ctx.reaper.spawn(
        [PY, "-m", "bench.claimer", "--spec", json.dumps(spec), "--agents", str(n)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**base_env(home), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        ctx.reaper.forget(proc)
    data = json.loads(out.decode().strip().splitlines()[-1])
    winners: dict[str, list[str]] = {}
    errors = 0
    for a in data["agents"]:
        errors += a["errors"]
        for s in a["won"]:
            winners.setdefault(s, []).append(a["agent"])
    row = _row(ctx, backend, "processes (protocol)", n, m, data["wall_s"], steps, winners)
    row["errors"] = errors
    if len(data["agents"]) != n:
        row["note"] = f"only {len(data['agents'])}/{n} agents reported: {err.decode()[-300:]}"
    return row


def _row(
    ctx: Ctx,
    backend: Backend,
    driver: str,
    n: int,
    m: int,
    wall: float,
    steps: list[str],
    winners: dict[str, list[str]],
) -> dict[str, Any]:
    won = sum(1 for s in steps if winners.get(s))
    v = verify(ctx, backend, steps, winners)
    row = {
        "backend": backend.kind,
        "driver": driver,
        "agents": n,
        "steps": m,
        "wall_s": round(wall, 3),
        "claims_per_s": round(won / wall, 1) if wall > 0 else None,
        "attempts_per_s": round(n * m / wall, 1) if wall > 0 else None,
        **v,
    }
    ctx.log(
        f"  {backend.kind:5} {driver:22} N={n:2} M={m}: {row['claims_per_s']} claims/s, "
        f"double winners {v['double_winners']}, without winner {v['steps_without_winner']}"
    )
    return row


def run(ctx: Ctx, kinds: list[str]) -> dict[str, Any]:
    m = 8 if ctx.quick else 40
    rows: list[dict[str, Any]] = []
    plan: list[tuple[str, str, int]] = []
    for kind in kinds:
        if ctx.quick:
            plan += [(kind, "mounts", 2), (kind, "processes", 8)]
        else:
            plan += [(kind, "mounts", 2), (kind, "mounts", 8)]
            plan += [(kind, "processes", 8), (kind, "processes", 32)]
    for kind, driver, n in plan:
        backend = ctx.s3_backend(f"race{n}") if kind == "s3" else ctx.local_backend(f"race{n}")
        try:
            if driver == "mounts":
                rows.append(race_mounts(ctx, backend, n, m))
            else:
                rows.append(race_processes(ctx, backend, n, m))
        except Exception as exc:
            ctx.note(f"contention {kind} {driver} N={n} could not run: {exc}")
    return {"rows": rows}
