"""A hook call returns within 2 s and lets the agent go on, whatever the mount
does: not mounted, its daemon stopped (SIGSTOP), its bucket unreachable."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hooks.conftest import run_hook
from tests.support.loopback_proxy import LoopbackProxy, Request
from tests.support.s3server import MotoServer

pytestmark = pytest.mark.mount

LIMIT_S = 2.0
EVENTS = ("session-start", "prompt", "stop")


def _check(run, event: str, words: str) -> None:  # type: ignore[no-untyped-def]
    assert run.returncode == 0, run.stderr
    assert run.seconds < LIMIT_S, f"{event} took {run.seconds:.2f}s"
    notice = str(run.out.get("systemMessage", ""))
    assert words in notice and "\n" not in notice, run.out
    assert "decision" not in run.out  # the agent is never held up by a broken mount
    if event != "stop":
        assert run.context == notice  # the agent learns it too


@pytest.mark.parametrize("event", EVENTS)
def test_not_mounted(tmp_path: Path, event: str) -> None:
    _check(run_hook("claude-code", event, tmp_path / "nothing-here"), event, "is not mounted")
    empty = tmp_path / "empty"
    empty.mkdir()
    _check(run_hook("claude-code", event, empty), event, "is not mounted")


@pytest.fixture
def stopped(mount) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    m = mount("bob")
    os.kill(m.proc.pid, signal.SIGSTOP)
    try:
        yield m.path
    finally:
        os.kill(m.proc.pid, signal.SIGCONT)


@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_daemon_stopped(stopped: Path) -> None:
    for event in EVENTS:
        _check(run_hook("claude-code", event, stopped), event, "did not answer within")


@pytest.fixture
def unreachable(tmp_path: Path, moto_server: MotoServer, s3_bucket: str, mount) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """A mount whose S3 endpoint answers 503 to everything once it is up."""
    down = {"on": False}

    def gate(req: Request) -> str | tuple[int, bytes]:
        return (503, b"<Error><Code>ServiceUnavailable</Code></Error>") if down["on"] else "forward"

    proxy = LoopbackProxy(moto_server.port, gate)
    try:
        m = mount("bob", extra=["--endpoint", f"http://127.0.0.1:{proxy.port}"])
        down["on"] = True
        yield m.path
    finally:
        proxy.close()


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_bucket_unreachable(unreachable: Path) -> None:
    for event in EVENTS:
        run = run_hook("claude-code", event, unreachable)
        assert run.returncode == 0 and run.seconds < LIMIT_S, (run.seconds, run.stderr)
        notice = str(run.out.get("systemMessage", ""))
        assert notice.startswith("tcfs: ") and "\n" not in notice, run.out
        assert "decision" not in run.out
