"""Make ``docs/replay.png``: a demo project's replay page in headless Chromium.

    .venv/bin/python docs/replay_screenshot.py [OUT.png]

Four agents work for twenty minutes on a local bucket in a temporary
directory: claims (one lease expires and is taken over), messages and a
broadcast, memory, handoffs, artifacts, a message from the tracecraft CLI's
layout, and one mirrored Claude Code transcript.  The page is built with
``tcfs replay``'s own code and shown with a handoff selected.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from tcfs.protocol import Project
from tcfs.protocol.events.writer import EventWriter
from tcfs.protocol.sessions import SessionWriter, add_part_to_meta, new_meta
from tcfs.replay.browser import ARGS, CHROMIUM
from tcfs.replay.page import build
from tcfs.store.local import LocalStore

START = time.time() - 20 * 60


class Clock:
    def __init__(self) -> None:
        self.t = START

    def __call__(self) -> float:
        return self.t

    def at(self, minutes: float) -> None:
        self.t = START + minutes * 60


def demo(store: LocalStore) -> None:
    clock = Clock()
    agents = ("planner", "developer", "tester", "reviewer")
    p = {a: Project(store, a, clock=clock, lease_ttl=300) for a in agents}
    log = {a: EventWriter(store, a, clock=clock) for a in agents}

    def claim(minutes: float, agent: str, step: str, taken_from: str | None = None) -> None:
        clock.at(minutes)
        c = p[agent].steps.claim(step)
        if taken_from:
            log[agent].emit(
                "takeover", step, epoch=c.epoch, lease_s=c.lease_ttl_s, **{"from": taken_from}
            )
        else:
            log[agent].emit("claim", step, epoch=c.epoch, lease_s=c.lease_ttl_s)

    def send(minutes: float, agent: str, to: str, text: str) -> None:
        clock.at(minutes)
        m = p[agent].messages.send(to, text)
        log[agent].emit("broadcast" if to == "_broadcast" else "send", to, text=text, key=m.key)

    def mem(minutes: float, agent: str, key: str, value: str) -> None:
        clock.at(minutes)
        v = p[agent].memory.set(tuple(key.split(".")), value)
        log[agent].emit("memory-set", key, value=value, set_at=v.set_at)

    def handoff(minutes: float, agent: str, step: str, note: str, to: str | None) -> None:
        clock.at(minutes)
        p[agent].steps.handoff(step, note=note, next_agent=to)
        log[agent].emit("handoff", step, note=note, next_agent=to, state="complete")

    def artifact(minutes: float, agent: str, scope: str, name: str, size: int) -> None:
        clock.at(minutes)
        p[agent].artifacts.upload(scope, name, io.BytesIO(b"x" * size), size)
        log[agent].emit("artifact-put", f"{scope}/{name}", size=size)

    for i, a in enumerate(agents):
        clock.at(0.2 * i)
        log[a].emit("agent-up", how="mounted")
    claim(0.5, "planner", "design")
    mem(1.5, "planner", "design.db", "sqlite")
    send(2, "planner", "_broadcast", "plan is in memory/design; claim api, ui, tests")
    mem(3, "planner", "design.db", "postgres")
    handoff(3.5, "planner", "design", "schema agreed: postgres, 3 tables", "developer")
    claim(4, "developer", "api")
    claim(4.5, "tester", "tests")
    send(6, "developer", "tester", "api skeleton is up on :8080")
    artifact(7, "developer", "api", "openapi.yaml", 18_400)
    clock.at(8)
    log["developer"].emit("agent-down", how="daemon killed")
    claim(9.2, "reviewer", "api", taken_from="developer")  # the lease expired
    send(10, "tester", "reviewer", "3 failing tests in tests/api, see artifact")
    artifact(10.5, "tester", "tests", "report.html", 240_000)
    for minutes in (8.5, 12.5):  # the tester's mount renews its lease
        clock.at(minutes)
        p["tester"].steps.renew("tests")
    mem(12, "reviewer", "api.status", "fixing auth")
    handoff(14, "reviewer", "api", "auth fixed; all 41 tests pass", "tester")
    handoff(16, "tester", "tests", "green on postgres 16", None)
    send(17, "reviewer", "planner", "api and tests done; ready to ship")
    for a in agents:
        log[a].flush()
    # a message written the way the tracecraft CLI writes it (no event logged)
    Project(store, "ops").messages.send("planner", "deploy window opens at 14:00")

    # the developer's Claude Code transcript, mirrored
    sess = SessionWriter(store, "claude-code", "7f3a9c1e-dev")
    lines = []
    for minutes, role, text in [
        (4.1, "user", "claim the api step and build the skeleton"),
        (4.3, "assistant", "echo me > /mnt/tc/steps/api/claim"),
        (5.2, "assistant", "Writing src/api/server.py with the three endpoints"),
        (6.1, "assistant", 'echo "api skeleton is up on :8080" > /mnt/tc/outbox/tester'),
        (7.0, "assistant", "cp openapi.yaml /mnt/tc/artifacts/api/"),
        (7.6, "assistant", "Running the test suite before handing over"),
    ]:
        ts = datetime.fromtimestamp(START + minutes * 60, timezone.utc).isoformat()
        doc = {"type": role, "timestamp": ts, "message": {"role": role, "content": text}}
        lines.append(json.dumps(doc) + "\n")
    body = "".join(lines).encode()
    sess.put_part(sess.new_part_key(0), body)
    meta = new_meta("claude-code", "7f3a9c1e-dev")
    meta["agent_id"] = "developer"
    sess.write_meta(add_part_to_meta(meta, {"seq": 0, "uploaded_bytes": len(body)}))


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("replay.png")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(Path(tmp) / "bucket", "shop")
        demo(store)
        page = Path(tmp) / "replay.html"
        page.write_text(build(store), encoding="utf-8")
        with sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(
                str(Path(tmp) / "profile"),
                executable_path=CHROMIUM,
                args=list(ARGS),
                headless=True,
                viewport={"width": 1400, "height": 820},
            )
            tab = ctx.new_page()
            tab.goto(page.as_uri())
            tab.wait_for_selector("body[data-ready='1']")
            tab.locator("#list .row", has_text="developer claimed api").first.click()
            tab.wait_for_selector("#transcript .row.sel")
            tab.screenshot(path=str(out))
            ctx.close()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
