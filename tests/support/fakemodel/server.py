"""The threaded HTTP server: routes each API's paths, records every request."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.support.fakemodel import wire
from tests.support.fakemodel.script import (
    JSON,
    Conversation,
    Reply,
    Script,
    anthropic_conversation,
    chat_conversation,
    gemini_conversation,
    responses_conversation,
)

# Headers and query parameters that carry credentials: never recorded.
SECRET_HEADERS = {"authorization", "x-api-key", "x-goog-api-key", "api-key", "cookie"}
SECRET_QUERY = {"key", "api_key"}
GEMINI_PATH = re.compile(
    r"/models/(?P<model>[^/:]+):(?P<verb>streamGenerateContent|generateContent)$"
)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # without the query string
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names, credentials dropped
    body: JSON | None
    api: str | None  # which API answered it, or None when the path was unknown


@dataclass(frozen=True)
class _Api:
    name: str
    conversation: Callable[[JSON], Conversation]
    events: Callable[[Reply, Conversation], list[wire.Event]]
    message: Callable[[Reply, Conversation], JSON]


APIS = {
    "anthropic": _Api(
        "anthropic", anthropic_conversation, wire.anthropic_events, wire.anthropic_message
    ),
    "chat": _Api("chat", chat_conversation, wire.chat_events, wire.chat_message),
    "responses": _Api(
        "responses", responses_conversation, wire.responses_events, wire.responses_message
    ),
    "gemini": _Api("gemini", gemini_conversation, wire.gemini_events, wire.gemini_message),
}


def route(method: str, path: str) -> str | None:
    """Which API a request path belongs to (prefixes like ``/v1`` are optional)."""
    if method != "POST":
        return None
    if path.endswith("/messages"):
        return "anthropic"
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/responses"):
        return "responses"
    if GEMINI_PATH.search(path):
        return "gemini"
    return None


class FakeModel:
    """A model server on 127.0.0.1 (ephemeral port) that answers from ``script``.

    Use as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeModel:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeModel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record(self, req: Recorded) -> None:
        with self._lock:
            self.requests.append(req)
            self._last = time.monotonic()

    def wait_idle(self, quiet: float = 3.0, timeout: float = 120.0) -> bool:
        """Wait until no request has come for ``quiet`` seconds (a harness's
        background work, such as a subagent, has settled); False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                since = time.monotonic() - self._last
            if since >= quiet:
                return True
            if time.monotonic() + (quiet - since) > deadline:
                return False
            time.sleep(quiet - since)

    def answered(self, api: str | None = None) -> list[Recorded]:
        """The requests a model API answered (optionally of one API)."""
        with self._lock:
            return [r for r in self.requests if r.api and (api is None or r.api == api)]


def _handler(model: FakeModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body are separate writes: without this, each keep-alive
        # answer waits out the client's delayed ACK (40 ms)
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_HEAD(self) -> None:
            self._serve()

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            api = route(self.command, url.path)
            query = dict(parse_qsl(url.query))
            model.record(
                Recorded(
                    self.command,
                    url.path,
                    {k: v for k, v in query.items() if k.lower() not in SECRET_QUERY},
                    {
                        k.lower(): v
                        for k, v in self.headers.items()
                        if k.lower() not in SECRET_HEADERS
                    },
                    body if isinstance(body, dict) else None,
                    api,
                )
            )
            if api is None or not isinstance(body, dict):
                return self._json(self._idle_answer(url.path), 200 if api is None else 400)
            spec = APIS[api]
            conv = spec.conversation(body)
            reply = model.script.answer(conv)
            streamed = body.get("stream") is True or "stream" in url.path.lower()
            if streamed:
                self._sse(spec.events(reply, conv), done=api == "chat")
            else:
                self._json(spec.message(reply, conv))

        def _idle_answer(self, path: str) -> JSON:
            # Model listings and probes: an empty but well-formed answer.
            if path.endswith("/models"):
                return {"object": "list", "data": [], "models": []}
            return {}

        def _json(self, doc: JSON, status: int = 200) -> None:
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _sse(self, events: list[wire.Event], *, done: bool) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            self.end_headers()
            try:
                for name, data in events:
                    head = f"event: {name}\n" if name else ""
                    self.wfile.write(f"{head}data: {json.dumps(data)}\n\n".encode())
                if done:  # Chat Completions closes its stream with a sentinel
                    self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the harness hung up (it was stopped, or stopped reading)
            self.close_connection = True

    return Handler
