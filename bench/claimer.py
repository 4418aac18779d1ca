"""N agents racing for M steps through the protocol layer, one process each.

``python -m bench.claimer --spec JSON`` forks N workers after importing boto3
once (so 32 agents cost 32 forks, not 32 interpreter start-ups), releases them
together through a barrier, and prints one JSON line: the wall time and every
step each agent believes it won.  The caller checks those beliefs against the
bucket.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import queue
import sys
import time
from typing import Any


def _store(spec: dict[str, Any]) -> Any:
    if spec["kind"] == "s3":
        from tcfs.store.s3 import S3Store

        return S3Store(spec["bucket"], spec["project"], endpoint=spec["endpoint"], path_style=True)
    from tcfs.store.local import LocalStore

    return LocalStore(spec["bucket"], spec["project"])


def _worker(spec: dict[str, Any], agent: str, barrier: Any, out: Any) -> None:
    from tcfs.errors import ClaimTaken, TcfsError
    from tcfs.protocol import Project

    project = Project(_store(spec), agent, lease_ttl=120.0)
    won: list[str] = []
    errors = 0
    barrier.wait(timeout=60)
    start = time.monotonic()
    for step in spec["steps"]:
        try:
            project.steps.claim(step)
            won.append(step)
        except ClaimTaken:
            pass
        except TcfsError:
            errors += 1
    out.put(
        {"agent": agent, "won": won, "errors": errors, "start": start, "done": time.monotonic()}
    )


def race(spec: dict[str, Any], agents: int) -> dict[str, Any]:
    import tcfs.protocol
    import tcfs.store.local

    if spec["kind"] == "s3":
        import tcfs.store.s3  # noqa: F401

    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(agents + 1)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(spec, f"racer-{i}", barrier, out), daemon=True)
        for i in range(agents)
    ]
    for p in procs:
        p.start()
    results: list[dict[str, Any]] = []
    t0 = time.monotonic()
    try:
        barrier.wait(timeout=120)
        t0 = time.monotonic()
        for _ in procs:
            results.append(out.get(timeout=300))
    except (queue.Empty, Exception) as exc:  # report what finished; never hang
        print(f"claimer: {exc!r}", file=sys.stderr)
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
    # Each worker stamps its own start: the parent may be scheduled late after the barrier.
    t0 = min((r["start"] for r in results), default=t0)
    wall = max((r["done"] for r in results), default=t0) - t0
    return {"wall_s": wall, "agents": results}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True, help="JSON: kind bucket project endpoint steps")
    ap.add_argument("--agents", type=int, required=True)
    args = ap.parse_args()
    print(json.dumps(race(json.loads(args.spec), args.agents)))


if __name__ == "__main__":
    main()
