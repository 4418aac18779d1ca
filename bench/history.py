"""History: the event log's cost per action, and the replay page at scale.

* **Cost.** N message sends through the protocol on S3 (behind the counting
  proxy), once without an event log and once with one: the requests the log
  adds per action (counted at the endpoint, after the writer's last flush),
  the action's median latency both ways, and what ``emit`` itself costs.
* **Scale.** A project of 10,000 events from four agents over two hours and
  100 MB of mirrored transcripts (20 sessions), built into one page with
  ``tcfs replay``; the file's size, the build time, and in Debian's headless
  Chromium the page's load time (navigation to data shown), a search over
  every event and opening the largest transcript.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.context import Ctx
from bench.servers import S3_ENV
from bench.stats import summary

AGENTS = ("planner", "developer", "tester", "reviewer")


def run(ctx: Ctx) -> dict[str, Any]:
    n_actions = 1000 if ctx.quick else 10_000
    events, mb = (1000, 10) if ctx.quick else (10_000, 100)
    return {"cost": log_cost(ctx, n_actions), "scale": replay_scale(ctx, events, mb)}


# ---------------------------------------------------------------- cost


def log_cost(ctx: Ctx, n: int, block: int = 50) -> dict[str, Any]:
    """Blocks of sends alternate between a project with an event log and one
    without, so the machine's load falls on both alike."""
    from tcfs.protocol import Project
    from tcfs.protocol.events.writer import EventWriter
    from tcfs.store.s3 import S3Store

    assert ctx.proxy is not None
    os.environ.update(S3_ENV)  # moto's fake keys, for the in-process client
    sides: dict[bool, dict[str, Any]] = {}
    for with_log in (False, True):
        backend = ctx.s3_backend("events-on" if with_log else "events-off")
        store = S3Store(
            backend.bucket,
            backend.project,
            endpoint=ctx.proxy.endpoint,
            region="us-east-1",
            path_style=True,
        )
        writer = EventWriter(store, "developer") if with_log else None
        if writer is not None:
            writer.start()
        project = Project(store, "developer")
        sides[with_log] = {
            "bucket": backend.bucket,
            "store": store,
            "writer": writer,
            "project": project,
            "lat": [],
        }
    emit: list[float] = []
    t0 = time.monotonic()
    for i in range(n * 2):
        side = sides[(i // block) % 2 == 1]
        s = time.perf_counter()
        msg = side["project"].messages.send("tester", f"build {i} is green")
        writer = side["writer"]
        if writer is not None:
            e = time.perf_counter()
            writer.emit("send", "tester", text=msg.text, key=msg.key)
            emit.append(time.perf_counter() - e)
        side["lat"].append(time.perf_counter() - s)
    out: dict[str, Any] = {"actions": n}
    for with_log, side in sides.items():
        if side["writer"] is not None:
            side["writer"].close(timeout=60)
            out["batches"] = side["writer"].batches
            out["written"] = side["writer"].written
        time.sleep(0.2)  # the proxy records a request as it answers
        tag = "with_log" if with_log else "without_log"
        out[tag] = {
            "requests": ctx.proxy.count(side["bucket"], since=t0),
            "action": summary(side["lat"]),
        }
        side["store"].close()
    out["emit"] = summary(emit)
    added = out["with_log"]["requests"] - out["without_log"]["requests"]
    out["requests_per_action"] = round(added / n, 4)
    out["added_latency_ms"] = round(
        out["with_log"]["action"]["median_ms"] - out["without_log"]["action"]["median_ms"], 3
    )
    ctx.log(f"history: {n} sends each way: {added} requests added")
    return out


# ---------------------------------------------------------------- scale


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds")


def seed_project(root: Path, n_events: int, transcript_mb: int) -> Any:
    """A local project: ``n_events`` logged events over two hours, and
    ``transcript_mb`` of Claude Code-shaped transcripts in 20 sessions."""
    from tcfs.protocol.events.writer import EventWriter
    from tcfs.protocol.sessions import SessionWriter, add_part_to_meta, new_meta
    from tcfs.store.local import LocalStore

    store = LocalStore(root, "bench")
    rng = random.Random(7)
    start = time.time() - 7200
    step_s = 7200 / n_events
    clock = {"t": start}
    writers = {a: EventWriter(store, a, clock=lambda: clock["t"]) for a in AGENTS}
    for i in range(n_events):
        clock["t"] = start + i * step_s
        agent = AGENTS[i % len(AGENTS)]
        w = writers[agent]
        r = rng.random()
        step = f"step-{i // 40}"
        if r < 0.3:
            other = rng.choice([a for a in AGENTS if a != agent])
            w.emit("send", other, text=f"note {i}: looked at {step}", key=f"messages/{other}/{i}")
        elif r < 0.5:
            w.emit("memory-set", f"design.k{i % 50}", value=f"value {i}", set_at=_iso(clock["t"]))
        elif r < 0.65:
            w.emit("claim", step, epoch=i, lease_s=60.0)
        elif r < 0.8:
            w.emit("status", step, epoch=i, status=rng.choice(["in_progress", "complete"]))
        elif r < 0.9:
            w.emit("artifact-put", f"{step}/out-{i}.txt", size=rng.randint(10, 10**7))
        else:
            w.emit("handoff", step, epoch=i, note=f"handoff {i}", next_agent=rng.choice(AGENTS))
        if i % 500 == 499:
            for each in writers.values():
                each.flush()
    for each in writers.values():
        each.flush()
    # transcripts: 20 sessions of transcript_mb / 20 each, in 1 MB parts
    per = transcript_mb * 1_000_000 // 20
    words = [
        f"{w}{i}"
        for i, w in enumerate(("read", "edit", "test", "grep", "tool", "diff", "plan", "file") * 64)
    ]
    for s in range(20):
        agent = AGENTS[s % len(AGENTS)]
        sid = f"session-{s:02d}"
        writer = SessionWriter(store, "claude-code", sid)
        meta = new_meta("claude-code", sid)
        meta["agent_id"] = agent
        lines_total = per // 1000
        buf: list[bytes] = []
        size = seq = 0
        for k in range(lines_total):
            ts = start + s * 300 + k * (6000 / lines_total)
            text = " ".join(rng.choice(words) for _ in range(110))
            doc = {"type": "user", "sessionId": sid, "timestamp": _iso(ts), "n": k, "text": text}
            line = json.dumps(doc).encode() + b"\n"
            buf.append(line)
            size += len(line)
            if size >= 1_000_000 or k == lines_total - 1:
                body = b"".join(buf)
                key = writer.new_part_key(seq)
                writer.put_part(key, body)
                add_part_to_meta(meta, {"seq": seq, "uploaded_bytes": len(body)})
                buf, size, seq = [], 0, seq + 1
        writer.write_meta(meta)
    return store


def replay_scale(ctx: Ctx, n_events: int, transcript_mb: int) -> dict[str, Any]:
    from tcfs.replay.page import build

    root = ctx.root / "history-scale"
    t = time.monotonic()
    store = seed_project(root, n_events, transcript_mb)
    seeded_s = time.monotonic() - t
    t = time.monotonic()
    html = build(store)
    build_s = time.monotonic() - t
    page = root / "replay.html"
    page.write_text(html, encoding="utf-8")
    out: dict[str, Any] = {
        "events": n_events,
        "transcript_mb": transcript_mb,
        "seed_s": round(seeded_s, 1),
        "build_s": round(build_s, 1),
        "file_mb": round(page.stat().st_size / 1e6, 1),
    }
    ctx.log(f"history: page of {n_events} events, {transcript_mb} MB: {out['file_mb']} MB")
    out.update(measure_in_chromium(page, ctx.root / "chromium-profile"))
    return out


def measure_in_chromium(page: Path, profile: Path, runs: int = 3) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from tcfs.replay.browser import ARGS, CHROMIUM

    loads: list[float] = []
    inner: list[float] = []
    search: list[float] = []
    opened: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            args=list(ARGS),
            headless=True,
            viewport={"width": 1400, "height": 1000},
            timeout=60_000,
        )
        try:
            for _ in range(runs):
                tab = browser.new_page()
                t = time.perf_counter()
                tab.goto(page.as_uri(), timeout=60_000)
                tab.wait_for_selector("body[data-ready='1']", timeout=60_000)
                loads.append(time.perf_counter() - t)
                inner.append(
                    float(tab.evaluate("() => Number(document.body.dataset.loadMs)")) / 1000
                )
                t = time.perf_counter()
                tab.fill("#search", "note 99")
                tab.wait_for_function("() => document.body.dataset.query === 'note 99'")
                search.append(time.perf_counter() - t)
                tab.fill("#search", "")
                tab.wait_for_function("() => document.body.dataset.query === ''")
                t = time.perf_counter()
                tab.select_option("#t-session", "0")
                tab.wait_for_selector("#transcript .row", timeout=60_000)
                opened.append(time.perf_counter() - t)
                tab.close()
        finally:
            browser.close()
    return {
        "load": summary(loads),
        "load_in_page": summary(inner),
        "search": summary(search),
        "open_transcript": summary(opened),
        "load_median_s": round(statistics.median(loads), 2),
    }


def markdown(res: dict[str, Any]) -> list[str]:
    """The history section of results.md."""
    md = ["", "## History: the event log and the replay page", ""]
    c = res.get("cost")
    if c:
        md += [
            "| actions | requests without log | with log | added per action | batches "
            "| action median ms (without / with) | added median ms | emit median / p95 µs |",
            "|---|---|---|---|---|---|---|---|",
            f"| {c['actions']} | {c['without_log']['requests']} | {c['with_log']['requests']} "
            f"| {c['requests_per_action']} | {c.get('batches')} "
            f"| {c['without_log']['action']['median_ms']} / {c['with_log']['action']['median_ms']} "
            f"| {c['added_latency_ms']} "
            f"| {c['emit']['median_ms'] * 1000:.1f} / {c['emit']['p95_ms'] * 1000:.1f} |",
            "",
        ]
    s = res.get("scale")
    if s:
        md += [
            "| events | transcripts MB | build s | file MB | load in Chromium s (median) "
            "| in-page decode ms | search ms | open a 5 MB transcript ms |",
            "|---|---|---|---|---|---|---|---|",
            f"| {s['events']} | {s['transcript_mb']} | {s['build_s']} | {s['file_mb']} "
            f"| {s['load_median_s']} | {s['load_in_page']['median_ms']:.0f} "
            f"| {s['search']['median_ms']:.0f} | {s['open_transcript']['median_ms']:.0f} |",
        ]
    return md
