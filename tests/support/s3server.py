"""moto's S3 server as a subprocess on loopback, with linearizable writes.

moto checks ``If-None-Match`` / ``If-Match`` and then writes, without a lock,
on its threaded server: two concurrent conditional PUTs can both pass the check
(a real S3, R2 or MinIO decides them atomically).  This launcher serves the
same moto application with every mutating request serialized, so race tests
measure the client and the protocol, not moto's check-then-write gap.

``python -m tests.support.s3server PORT`` serves on 127.0.0.1:PORT.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]  # tests/support/ -> the repository
MUTATING = {"PUT", "POST", "DELETE"}

# Fake credentials for the loopback endpoint; never real ones.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def loopback_client(endpoint: str, *, pool: int = 10, retries: bool = True) -> Any:
    """A boto3 client for a loopback server, with the fake credentials (path
    style; ``retries=False``: one attempt per request, as tcfs's store sends)."""
    import boto3
    from botocore.config import Config

    extra: dict[str, Any] = {}
    if not retries:
        extra["retries"] = {"total_max_attempts": 1, "mode": "standard"}
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=S3_ENV["AWS_DEFAULT_REGION"],
        config=Config(
            s3={"addressing_style": "path"},
            max_pool_connections=pool,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            **extra,
        ),
    )


def new_bucket(client: Any) -> str:
    name = f"tcfs-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return name


def serialized(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    lock = threading.Lock()

    def wrapper(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in MUTATING:
            return app(environ, start_response)
        with lock:
            result = app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

    return wrapper


def main(port: int) -> None:
    from moto.moto_server.threaded_moto_server import (
        DomainDispatcherApplication,
        create_backend_app,
    )
    from moto.server import MotoRequestHandler
    from werkzeug.serving import run_simple

    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        "127.0.0.1", port, serialized(app), threaded=True, request_handler=MotoRequestHandler
    )


class LoopbackServer:
    """An S3 server subprocess on loopback: ``endpoint``, ``port``, ``client()``,
    ``new_bucket()``, ``stop()``.  Subclasses start ``proc`` logging to ``log``."""

    port: int
    endpoint: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes]

    def client(self):  # type: ignore[no-untyped-def]
        return loopback_client(self.endpoint)

    def new_bucket(self) -> str:
        return new_bucket(self.client())

    #: how long ``stop`` waits after SIGTERM before it kills the server
    stop_grace_s = 15.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=self.stop_grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


class MotoServer(LoopbackServer):
    """The launcher as a subprocess on a free loopback port."""

    def __init__(self, log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = open(log_dir / f"moto-{self.port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.s3server", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=REPO,
            env={**os.environ, **S3_ENV, **(env or {})},
        )
        try:
            wait_port(self.port, self.proc)
        except BaseException:
            self.stop()
            raise


if __name__ == "__main__":
    main(int(sys.argv[1]))
