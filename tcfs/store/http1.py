"""A small HTTP/1.1 client for the S3 short path: kept-alive connections, one
request at a time on each, its whole answer read before the next.

``http.client`` parses every answer's headers with the ``email`` package and
sends a request's headers and body in two writes; for a record of a few
hundred bytes that is most of the client's CPU per request.  This sends the
request in one write and reads the answer's status line, headers and body
(``Content-Length``, chunked, or to the end of a closing connection)
directly.  What it does not need it does not do: no redirects, no
``Expect: 100-continue`` of its own (an interim 1xx answer is skipped), no
compression.

Errors: ``ConnectFailed`` (no connection could be made; nothing was sent),
``TlsFailed`` (the TLS handshake failed; nothing was sent), ``BadRequest`` (a
header value with a line break; nothing was sent),
``TimeoutError`` (no answer within the read timeout), ``ConnectionError`` or
``BadAnswer`` (the connection broke or the answer could not be read: the
request may have been carried out), ``AnswerTooLarge`` (the body is over the
caller's ``limit``: what was read is dropped, never buffered without bound).
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any

#: the longest status or header line read, and the most headers
MAX_LINE = 65536
MAX_HEADERS = 200
#: answers that carry no body whatever their headers say
NO_BODY = {204, 304}
#: the longest body read when the caller names no limit
MAX_BODY = 64 << 20


class ConnectFailed(OSError):
    """No connection to the endpoint: the request was never sent."""


class ConnectTimeout(ConnectFailed, TimeoutError):
    """No connection within the connect timeout."""


class TlsFailed(ConnectFailed):
    """The TLS handshake failed (a certificate not trusted, a name that does not
    match): the request was never sent, and sending it again will not help."""


class BadAnswer(ConnectionError):
    """An answer that is not HTTP/1.1 as this client reads it."""


class AnswerTooLarge(BadAnswer):
    """An answer whose body is over the limit; ``announced`` when its
    Content-Length said so and nothing of the body was read."""

    def __init__(self, limit: int, *, announced: bool) -> None:
        super().__init__(f"the answer's body is over {limit} bytes, the most this request reads")
        self.limit, self.announced = limit, announced


class BadRequest(ValueError):
    """A request that cannot be sent as asked (a line break in a header); nothing was sent."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # names lowercased; repeated ones joined with ", "
    body: bytes


class Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._in = sock.makefile("rb")
        self.reusable = True

    def exchange(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes | None,
        *,
        limit: int = MAX_BODY,
    ) -> Answer:
        """Send one request and read its whole answer, a body of at most ``limit`` bytes."""
        head = [f"{method} {target} HTTP/1.1"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if any(c in line for line in head for c in "\r\n\0"):
            # a value from elsewhere (an ETag a server sent) must not add headers
            raise BadRequest("a line break in the request line or a header")
        if body is not None or method in ("PUT", "POST"):
            head.append(f"Content-Length: {len(body or b'')}")
        self.sock.sendall("\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + (body or b""))
        while True:
            status, closing = self._status_line()
            fields = self._headers()
            if not 100 <= status < 200:
                break
        if closing or "close" in fields.get("connection", "").lower():
            self.reusable = False
        if method == "HEAD" or status in NO_BODY:
            return Answer(status, fields, b"")
        if "chunked" in fields.get("transfer-encoding", "").lower():
            return Answer(status, fields, self._chunked(limit))
        length = fields.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                raise BadAnswer(f"bad Content-Length {length!r}")
            if int(length) > limit:
                self.reusable = False  # its body is still on the way
                raise AnswerTooLarge(limit, announced=True)
            return Answer(status, fields, self._exactly(int(length)))
        self.reusable = False  # the body runs to the end of the connection
        content = self._in.read(limit + 1)
        if len(content) > limit:
            raise AnswerTooLarge(limit, announced=False)
        return Answer(status, fields, content)

    def _line(self) -> bytes:
        line = self._in.readline(MAX_LINE + 1)
        if not line:
            raise ConnectionResetError("the server closed the connection")
        if len(line) > MAX_LINE:
            raise BadAnswer("answer line too long")
        return line

    def _status_line(self) -> tuple[int, bool]:
        parts = self._line().decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise BadAnswer(f"not an HTTP status line: {' '.join(parts)[:80]!r}")
        return int(parts[1]), parts[0] == "HTTP/1.0"

    def _headers(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            line = self._line()
            if line in (b"\r\n", b"\n"):
                return fields
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise BadAnswer(f"bad header line {line[:80]!r}")
            key, value = name.strip().lower(), value.strip()
            fields[key] = f"{fields[key]}, {value}" if key in fields else value
        raise BadAnswer("too many headers")

    def _exactly(self, n: int) -> bytes:
        data = self._in.read(n)
        if len(data) != n:
            raise ConnectionResetError(f"the answer ended after {len(data)} of {n} bytes")
        return data

    def _chunked(self, limit: int) -> bytes:
        out = bytearray()
        while True:
            size_field = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_field, 16)
            except ValueError:
                raise BadAnswer(f"bad chunk size {size_field[:20]!r}") from None
            if size == 0:
                while self._line() not in (b"\r\n", b"\n"):
                    pass  # trailers
                return bytes(out)
            if len(out) + size > limit:
                self.reusable = False
                raise AnswerTooLarge(limit, announced=False)
            out += self._exactly(size)
            self._line()  # the CRLF after the chunk

    def idle_and_open(self) -> bool:
        """Whether an idle connection can carry a request: a server that closed
        it (or sent something unasked) makes it readable."""
        try:
            return not select.select([self.sock], [], [], 0)[0]
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        self.reusable = False
        try:
            self._in.close()
        finally:
            self.sock.close()


class Pool:
    """Idle kept-alive connections to one host, the most recent first."""

    def __init__(
        self, host: str, port: int, *, connect: float, read: float, tls: ssl.SSLContext | None
    ) -> None:
        self.host, self.port = host, port
        self._connect, self._read, self._tls = connect, read, tls
        self._idle: list[Connection] = []
        self._lock = threading.Lock()

    def take(self) -> Connection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._open()
            if conn.idle_and_open():
                return conn
            conn.close()

    def _open(self) -> Connection:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self._connect)
        except TimeoutError as exc:
            raise ConnectTimeout(None, f"no connection to {self.host}:{self.port}") from exc
        except OSError as exc:
            raise ConnectFailed(
                exc.errno, f"cannot connect to {self.host}:{self.port}: {exc}"
            ) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
            sock.settimeout(self._read)
        except ssl.SSLError as exc:
            sock.close()
            raise TlsFailed(exc.errno, f"TLS with {self.host}: {exc}") from exc
        except OSError as exc:
            sock.close()
            raise ConnectFailed(
                getattr(exc, "errno", None), f"TLS with {self.host}: {exc}"
            ) from exc
        return Connection(sock)

    def give(self, conn: Connection) -> None:
        if not conn.reusable:
            conn.close()
            return
        with self._lock:
            self._idle.append(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def tls_context(verify: Any) -> ssl.SSLContext:
    """A client TLS context from botocore's ``verify``: True, False or a CA bundle path."""
    if verify is False:
        return ssl._create_unverified_context()
    return ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
