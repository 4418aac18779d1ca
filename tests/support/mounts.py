"""Real mounts, for every test package that mounts.

The fixtures here are imported by the ``conftest.py`` of each package that uses
them.  ``backend`` runs a test once against a local bucket directory and once
against moto's S3 server; ``mount(agent)`` starts ``python -m tcfs mount
--foreground`` as its own process and waits for the mount; the finalizer
detaches it with ``fusermount3 -u -z`` and stops the daemon, under timeouts.
``proxied`` puts the loopback proxy in front of an S3 backend, to count the
requests a mount sends.  ``sh`` runs one bash command with a timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tcfs import registry
from tests.support.loopback_proxy import LoopbackProxy
from tests.support.machine import FUSERMOUNT


@dataclass
class Backend:
    name: str
    args: list[str]
    store: Any  # a Store on the same bucket and project, for direct writes


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, tcfs_home: Path) -> Iterator[Backend]:
    if request.param == "local":
        from tcfs.store.local import LocalStore

        root = tmp_path / "bucket"
        store = LocalStore(root, "proj")
        yield Backend("local", ["--backend", "local", "--bucket", str(root)], store)
    else:
        from tcfs.store.s3 import S3Store

        server = request.getfixturevalue("moto_server")
        bucket = request.getfixturevalue("s3_bucket")
        store = S3Store(
            bucket, "proj", endpoint=server.endpoint, region="us-east-1", path_style=True
        )
        args = [
            "--backend",
            "s3",
            "--endpoint",
            server.endpoint,
            "--bucket",
            bucket,
            "--region",
            "us-east-1",
        ]
        yield Backend("s3", args, store)
    store.close()


@pytest.fixture
def proxied(backend: Backend) -> Iterator[LoopbackProxy]:
    """The loopback proxy in front of the S3 backend (a local one skips the test)."""
    if backend.name != "s3":
        pytest.skip("requests are counted at the S3 endpoint")
    endpoint = backend.args[backend.args.index("--endpoint") + 1]
    proxy = LoopbackProxy(int(endpoint.rsplit(":", 1)[1]), None)
    yield proxy
    proxy.close()


#: the FUSE binding the mounts go through (make test-mfusepy sets mfusepy)
TEST_FUSE = os.environ.get("TCFS_TEST_FUSE", "pyfuse3")


@dataclass
class Mount:
    path: Path
    agent: str
    proc: subprocess.Popen[bytes]
    log: Path
    extra: list[str] = field(default_factory=list)

    def __truediv__(self, rel: str) -> Path:
        return self.path / rel

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


def wait_mounted(mnt: Path, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mount exited with {proc.returncode}:\n{log.read_text()}")
        if registry.is_mounted(str(mnt)) and os.path.ismount(mnt):
            return
        time.sleep(0.05)
    raise AssertionError(f"{mnt} not mounted after {timeout}s:\n{log.read_text()}")


def detach(mnt: Path, proc: subprocess.Popen[bytes] | None) -> None:
    if registry.is_mounted(str(mnt)) and FUSERMOUNT:
        subprocess.run([FUSERMOUNT, "-u", "-z", str(mnt)], capture_output=True, timeout=20)
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def mount(tmp_path: Path, backend: Backend) -> Iterator[Callable[..., Mount]]:
    started: list[Mount] = []

    def start(
        agent: str,
        *,
        lease_ttl: float = 30,
        wait_timeout: float = 20,
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        name: str | None = None,  # of the mountpoint, when one agent is mounted twice
        under: Path | None = None,  # the mountpoint's folder (default: the test's tmp_path)
    ) -> Mount:
        name = name or agent
        mnt = (under or tmp_path) / f"mnt-{name}"
        mnt.mkdir()
        log = tmp_path / f"daemon-{name}.log"
        args = [
            sys.executable,
            "-m",
            "tcfs",
            "mount",
            str(mnt),
            "--foreground",
            "--project",
            "proj",
            "--agent",
            agent,
            *backend.args,
            "--lease-ttl",
            str(lease_ttl),
            "--wait-timeout",
            str(wait_timeout),
            "--fuse",
            TEST_FUSE,
            *(extra or []),
        ]
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env} if env else None,
                cwd=cwd,
            )
        m = Mount(mnt, agent, proc, log, extra or [])
        started.append(m)
        wait_mounted(mnt, proc, log)
        return m

    yield start
    for m in started:
        detach(m.path, m.proc)


def sh(cmd: str, timeout: float = 30, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run one bash command (bash builtins included) with a timeout."""
    return subprocess.run(
        ["bash", "-c", cmd],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        **kw,
    )


def eventually(check: Callable[[], bool], timeout: float = 20, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()
