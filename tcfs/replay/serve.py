"""``tcfs replay --serve``: the viewer kept live from a small loopback server.

The page polls ``api/poll?after=N`` once a second for the events past the
N it has and the current session index, and fetches a transcript from
``api/session/<n>[?from=line]`` when it is opened or grows.  One background
thread follows the bucket (an :class:`EventTail` pass a second, the session
index every few seconds), so any number of open pages cost the bucket the same.
Requests whose ``Host`` is not the bound address are refused (DNS rebinding).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tcfs.errors import TcfsError
from tcfs.protocol.events.event import Event
from tcfs.protocol.events.reader import EventTail
from tcfs.protocol.events.verify import verify
from tcfs.protocol.sessions import SessionReader
from tcfs.replay import collect
from tcfs.replay.page import render, transcript_json
from tcfs.store.base import Store

log = logging.getLogger(__name__)

SESSIONS_EVERY = 3.0


class LiveState:
    """What the server knows, refreshed by one thread."""

    def __init__(self, store: Store, filters: collect.Filters, *, interval: float = 1.0) -> None:
        self.store = store
        self.filters = filters
        self.interval = interval
        self.tail = EventTail(store, cli_every=5.0)
        self.reader = SessionReader(store)
        self.events: list[dict[str, object]] = []
        self._all: list[Event] = []
        self.problems: list[str] = []
        self.sessions: list[collect.Session] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._next_sessions = 0.0
        self.refresh()

    def refresh(self) -> None:
        try:
            new = self.tail.poll()
        except TcfsError as exc:
            log.warning("replay: cannot read the event log: %s", exc)
            new = []
        sessions = None
        if time.monotonic() >= self._next_sessions:
            self._next_sessions = time.monotonic() + SESSIONS_EVERY
            try:
                sessions = collect.sessions(self.store)
            except TcfsError as exc:
                log.warning("replay: cannot list sessions: %s", exc)
        with self._lock:
            if new:
                self._all.extend(new)
                self.events.extend(collect.event_json(e) for e in new if self.filters.keep(e))
                found = verify(self._all, self.tail.problems)
                self.problems = [f"{p.agent}: {p.message}" for p in found]
            if sessions is not None:
                if self.filters.agents:
                    sessions = [s for s in sessions if s.agent in self.filters.agents]
                # keep each session's number stable for pages already open
                known = {(s.harness, s.id): s.n for s in self.sessions}
                for s in sessions:
                    s.n = known.get((s.harness, s.id), -1)
                top = max(known.values(), default=-1)
                for s in sessions:
                    if s.n < 0:
                        top += 1
                        s.n = top
                self.sessions = sorted(sessions, key=lambda s: s.n)

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            self.refresh()

    def stop(self) -> None:
        self._stop.set()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "events": list(self.events),
                "sessions": [s.to_json() for s in self.sessions],
                "problems": list(self.problems),
            }

    def page(self) -> str:
        """The viewer with what is known now; the page polls for the rest."""
        with self._lock:
            doc: dict[str, object] = {
                "project": self.store.project,
                "generated_at": time.time(),
                "agents": [],
                "events": list(self.events),
                "problems": list(self.problems),
                "sessions": [s.to_json() for s in self.sessions],
            }
        return render(doc, live=True)

    def session(self, n: int, start: int) -> dict[str, object] | None:
        with self._lock:
            found = next((s for s in self.sessions if s.n == n), None)
        if found is None:
            return None
        return transcript_json(collect.transcript(self.reader, found.harness, found.id, start))


def _handler(state: LiveState, allowed_hosts: set[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "tcfs-replay"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("replay: " + format, *args)

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, doc: object, code: int = 200) -> None:
            self._send(code, json.dumps(doc, ensure_ascii=False).encode(), "application/json")

        def do_GET(self) -> None:
            if self.headers.get("Host", "") not in allowed_hosts:
                self._json({"error": "unknown host"}, 421)
                return
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            try:
                if url.path in ("/", "/index.html"):
                    self._send(200, state.page().encode(), "text/html; charset=utf-8")
                elif url.path == "/api/poll":
                    after = int(query.get("after", ["0"])[0])
                    snap = state.snapshot()
                    snap["events"] = snap["events"][max(0, after) :]
                    self._json(snap)
                elif url.path.startswith("/api/session/"):
                    n = int(url.path.rsplit("/", 1)[1])
                    start = int(query.get("from", ["0"])[0])
                    doc = state.session(n, max(0, start))
                    if doc is None:
                        self._json({"error": "no such session"}, 404)
                    else:
                        self._json(doc)
                else:
                    self._json({"error": "not found"}, 404)
            except ValueError:
                self._json({"error": "bad request"}, 400)
            except TcfsError as exc:
                self._json({"error": str(exc)}, 502)

    return Handler


class ReplayServer:
    """The HTTP server and the thread that follows the bucket."""

    def __init__(self, store: Store, filters: collect.Filters, host: str, port: int) -> None:
        self.state = LiveState(store, filters)
        self.httpd = ThreadingHTTPServer((host, port), _handler(self.state, set()))
        self.host, self.port = str(self.httpd.server_address[0]), int(self.httpd.server_address[1])
        hosts = {f"{self.host}:{self.port}", f"localhost:{self.port}"}
        if ":" in self.host:
            hosts.add(f"[{self.host}]:{self.port}")
        self.httpd.RequestHandlerClass = _handler(self.state, hosts)
        self.httpd.daemon_threads = True
        self._follow = threading.Thread(target=self.state.run, name="replay-follow", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def serve_forever(self) -> None:
        self._follow.start()
        try:
            self.httpd.serve_forever(poll_interval=0.5)
        finally:
            self.state.stop()
            self.httpd.server_close()

    def shutdown(self) -> None:
        self.httpd.shutdown()
