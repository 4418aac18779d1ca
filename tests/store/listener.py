"""Loopback servers for tests: a listening socket whose connections are each
served on a thread of their own until the socket is closed."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


def serve_in_threads(sock: socket.socket, serve: Callable[[socket.socket], None]) -> None:
    """Accept on ``sock`` (in the background) and run ``serve(conn)`` on a thread per connection."""

    def accept() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return  # the socket was closed
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
