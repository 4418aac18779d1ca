"""Shared fixtures: a real S3 endpoint on loopback, per-test buckets, stores.

The S3 endpoint is moto's server run as a separate process (``tests/support/s3server.py``),
or SeaweedFS with ``TCFS_TEST_S3=seaweedfs`` (``tests/support/seaweedfs.py``), spoken
to over HTTP on 127.0.0.1; each test gets a fresh bucket, so tests
never see each other's keys.  ``store`` runs a test once per backend.

Tiers, by mark (``make check`` runs none of these): ``mount`` (a real FUSE
mount; every test using the ``mount`` fixture gets it), ``harness`` (a real
harness program, installed with npm), ``browser`` (headless Chromium; every
test using ``browser_context`` gets it), ``soak``, ``interop`` (the tracecraft
CLI; every test using ``tracecraft`` gets it) and ``slow``.  A machine
without FUSE, npm (and no cached harnesses) or Chromium skips those tests
instead of failing them (``TCFS_TEST_NO_FUSE=1`` acts out a machine without FUSE).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.machine import BIN, TEST_S3, fuse_missing
from tests.support.s3server import S3_ENV, MotoServer
from tests.support.seaweedfs import SeaweedServer
from tests.support.stores import make_store

# a test that asks for one of these fixtures gets the mark, wherever it lives
MARK_BY_FIXTURE = {"mount": "mount", "browser_context": "browser", "tracecraft": "interop"}


def _missing(mark: str) -> str | None:
    """Why this machine cannot run tests with ``mark``, or None if it can."""
    if mark == "mount":
        return fuse_missing()
    if mark == "harness" and not shutil.which("npm"):
        from tests.support.harnesses.install import DONE, PINS, cache_root

        npm_pins = [p for p in PINS.values() if p.registry == "npm"]
        if not all((cache_root() / p.label / DONE).exists() for p in npm_pins):
            return "needs npm to install the harness programs (make test installs it)"
    if mark == "browser":
        from tcfs.replay.browser import CHROMIUM

        if not Path(CHROMIUM).exists():
            return "needs chromium (make test installs it)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, mark in MARK_BY_FIXTURE.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(mark)
    skips = {
        mark: pytest.mark.skip(reason=why)
        for mark in ("mount", "harness", "browser")
        if (why := _missing(mark))
    }
    for item in items:
        for mark, skip in skips.items():
            if mark in item.keywords:
                item.add_marker(skip)


def start_s3_server(log_dir: Path) -> MotoServer | SeaweedServer:
    """The S3 server TCFS_TEST_S3 names, on loopback; both have one API."""
    if TEST_S3 == "seaweedfs":
        return SeaweedServer(log_dir)
    return MotoServer(log_dir)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer | SeaweedServer]:
    """The session's S3 endpoint on loopback, whichever TCFS_TEST_S3 names."""
    server = start_s3_server(tmp_path_factory.mktemp(TEST_S3))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_server(s3_server: MotoServer | SeaweedServer) -> MotoServer | SeaweedServer:
    """The older name of ``s3_server``, kept so existing tests need no edit."""
    return s3_server


# The hf stand-in: the real huggingface_hub client, pointed at a loopback server,
# with its caches in a private directory so no state leaks between runs.
HF_ENV_KEYS = (
    "HF_HOME",
    "HF_XET_CACHE",
    "HF_HUB_DISABLE_TELEMETRY",
    "HF_HUB_DISABLE_PROGRESS_BARS",
)


@pytest.fixture(scope="session")
def hf_standin(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.support.hf_standin import HfStandIn

    cache = tmp_path_factory.mktemp("hf-home")
    saved = {k: os.environ.get(k) for k in HF_ENV_KEYS}
    os.environ.update(
        {
            "HF_HOME": str(cache),
            "HF_XET_CACHE": str(cache / "xet"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        }
    )
    standin = HfStandIn()
    try:
        yield standin
    finally:
        standin.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(autouse=True)
def _s3_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests only ever hold the fake loopback credentials."""
    for k, v in S3_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def tcfs_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated TCFS_HOME and config file for the test."""
    home = tmp_path / "tcfs-home"
    home.mkdir()
    monkeypatch.setenv("TCFS_HOME", str(home))
    monkeypatch.setenv("TCFS_CONFIG", str(home / "config.json"))
    return home


@pytest.fixture
def s3_bucket(moto_server: MotoServer) -> str:
    return moto_server.new_bucket()


@pytest.fixture(params=["local", "s3", "hf"])
def store(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """The same test once per backend, each on a fresh bucket."""
    s = make_store(request.param, request)
    yield s
    s.close()


@pytest.fixture(params=["local", "s3"])
def atomic_store(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Backends whose conditional writes are enforced (claims are exact)."""
    s = make_store(request.param, request)
    yield s
    s.close()


@pytest.fixture
def tracecraft(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real ``tracecraft`` CLI against the test bucket.

    ``tracecraft(agent, *args)`` runs one command in a directory whose
    ``.tracecraft.json`` points at the loopback endpoint, project ``proj``.
    """
    exe = shutil.which("tracecraft", path=str(BIN)) or shutil.which("tracecraft")
    if exe is None:
        pytest.fail("the tracecraft CLI (tracecraft-ai) is not installed in the test environment")
    workdir = tmp_path / "tracecraft-cwd"
    workdir.mkdir()
    cfg = {
        "backend": "s3",
        "endpoint": moto_server.endpoint,
        "bucket": s3_bucket,
        "project": "proj",
        "agent_id": "cli-agent",
        "access_key": S3_ENV["AWS_ACCESS_KEY_ID"],
        "secret_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
    }
    (workdir / ".tracecraft.json").write_text(json.dumps(cfg))
    os.chmod(workdir / ".tracecraft.json", 0o600)

    def run(agent: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **S3_ENV, "TRACECRAFT_AGENT": agent, "HOME": str(tmp_path)}
        return subprocess.run(
            [exe, *args],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    return run
