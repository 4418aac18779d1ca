"""Request cost of doing nothing: S3 requests per minute, counted at the proxy.

Three subjects run side by side, each on its own bucket so the proxy can tell
their requests apart, over one measurement window:

* an idle mount;
* a mount with 10 readers blocked in ``cat steps/<id>/wait`` (steps pending);
* a mirror following a Claude Code session that does not grow.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.context import Ctx
from bench.mounts import Mirror, Mount, claude_session, stop_mounts
from bench.procs import stop_all, wait_until

WAITERS = 10


def run(ctx: Ctx, during: Callable[[], None] | None = None) -> dict[str, Any]:
    """Measure; ``during`` (optional) runs in a thread inside the window (e.g. seeding
    another bucket for a later section: it adds no requests to these buckets), and
    the window stretches to cover it."""
    assert ctx.proxy is not None
    window = 8.0 if ctx.quick else 45.0
    max_window = 30.0 if ctx.quick else 120.0
    settle = 2.0 if ctx.quick else 5.0
    subjects: dict[str, Any] = {}
    b_idle, b_wait, b_mirror = (ctx.s3_backend(n) for n in ("idle", "waits", "mirror"))
    rows: list[dict[str, Any]] = []
    waiters: list[subprocess.Popen[bytes]] = []
    mirror: Mirror | None = None
    mounts: list[Mount] = []
    bg: threading.Thread | None = None
    try:
        idle = Mount(ctx.reaper, ctx.root, b_idle, "idle", wait_timeout=600).start()
        mounts.append(idle)
        subjects["idle mount"] = b_idle
        try:
            wm = Mount(ctx.reaper, ctx.root, b_wait, "waiter", wait_timeout=600).start()
            mounts.append(wm)
            for i in range(WAITERS):
                waiters.append(
                    ctx.reaper.spawn(
                        ["cat", f"{wm.path}/steps/w{i}/wait"],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                    )
                )
            subjects[f"mount + {WAITERS} blocked wait readers"] = b_wait
        except Exception as exc:
            ctx.note(f"cost: mount with waiters could not run: {exc}")
        try:
            sid = str(uuid.uuid4())
            home = ctx.root / "home" / f"idle-{sid[:8]}"
            cwd = ctx.root / "work" / f"idle-{sid[:8]}"
            cwd.mkdir(parents=True, exist_ok=True)
            src = claude_session(home, cwd, sid)
            src.write_bytes(b'{"type":"user","message":{"role":"user","content":"hi"}}\n')
            mirror = Mirror(ctx.reaper, ctx.root, b_mirror, "idler", home, cwd).start()
            prefix = f"{b_mirror.project}/sessions/"
            uploaded = wait_until(
                lambda: (
                    ctx.direct.list_objects_v2(Bucket=b_mirror.bucket, Prefix=prefix).get(
                        "KeyCount", 0
                    )
                    > 0
                ),
                30,
                0.2,
            )
            if not uploaded:
                ctx.note(f"cost: the mirror uploaded nothing in 30 s: {mirror.log_tail(400)}")
            subjects["mirror following an idle session"] = b_mirror
        except Exception as exc:
            ctx.note(f"cost: mirror could not run: {exc}")

        time.sleep(settle)
        if during is not None:
            bg = threading.Thread(target=during, daemon=True)
            bg.start()
        t0 = time.monotonic()
        time.sleep(window)
        # A longer window only sharpens the rates: stretch it while the
        # background work (if any) is still running, up to max_window.
        while bg is not None and bg.is_alive() and time.monotonic() - t0 < max_window:
            time.sleep(0.5)
        t1 = time.monotonic()
        if ctx.quick:
            ctx.note(
                "cost: quick mode's window is too short for steady-state rates (a mount paces "
                "its polls by their cost, so one pass can be followed by a long pause)"
            )
        for name, b in subjects.items():
            n = ctx.proxy.count(b.bucket, t0, t1)
            rows.append(
                {
                    "subject": name,
                    "window_s": round(t1 - t0, 1),
                    "requests": n,
                    "per_min": round(n * 60 / (t1 - t0), 1),
                    "by_op": ctx.proxy.by_op(b.bucket, t0, t1),
                }
            )
            ctx.log(f"  {name:36} {rows[-1]['per_min']:7.1f} req/min  {rows[-1]['by_op']}")
        still = sum(1 for w in waiters if w.poll() is None)
        if waiters and still != len(waiters):
            errs = [w.stderr.read().decode()[:200] for w in waiters if w.poll() is not None]  # type: ignore[union-attr]
            ctx.note(
                f"cost: only {still}/{len(waiters)} wait readers were still blocked: {errs[:2]}"
            )
        if mirror is not None and mirror.proc is not None and mirror.proc.poll() is not None:
            ctx.note(f"cost: the mirror exited early: {mirror.log_tail(400)}")
    finally:
        # Mounts first: a reader blocked in ``wait`` can only die once its mount is gone.
        stop_mounts(mounts)
        if mirror is not None:
            mirror.stop()
        stop_all(waiters)
        for w in waiters:
            if w in ctx.reaper.procs:
                ctx.reaper.procs.remove(w)
        if bg is not None:
            bg.join()
        elif during is not None:  # the window never opened: still do the work
            during()
    return {"rows": rows, "window_s": window}
