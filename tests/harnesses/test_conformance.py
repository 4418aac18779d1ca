"""Conformance: the real harness programs, one turn each against the fake
model, then ``tcfs mirror`` must reproduce every session they stored.

Per harness: turn one (a shell call and a subagent call); ``tcfs mirror
--once --harness NAME`` and ``--harness auto`` (into two buckets) must hold
every session and child byte for byte or row for row, with redaction on (so
the real lines are also the redaction false-positive corpus: none may
change); a second run uploads nothing; then ``--follow`` runs while turn two
resumes the session (a tool result over 8 KiB) and must catch up with it.

Run with ``make test-harnesses``; a harness that cannot be installed fails.
With ``TCFS_HARNESS_CAPTURE=1`` the sessions become the committed fixtures
(``tests/mirror/real/``) that ``make test`` replays without the installs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tcfs.store.local import LocalStore
from tests.harnesses.conftest import ROWS
from tests.support.fakemodel import FakeModel
from tests.support.harnesses import sources
from tests.support.harnesses.fixtures import capture
from tests.support.harnesses.install import install
from tests.support.harnesses.programs import PROGRAMS, base_env, run_turn
from tests.support.mirroring import run_mirror, tcfs_cmd

pytestmark = pytest.mark.harness

MIRROR_TIMEOUT = 120.0
FOLLOW_TIMEOUT = 90.0  # for the follower to catch up with turn two


def mirror(env: dict[str, str], cwd: Path, bucket: Path, *args: str) -> str:
    argv = ["--bucket", str(bucket), "--project", "proj", *args]
    proc = run_mirror(argv, cwd, MIRROR_TIMEOUT, env)
    assert proc.returncode == 0, f"tcfs mirror {args} exited {proc.returncode}:\n{proc.stderr}"
    return proc.stdout


def faithful(bucket: Path, name: str, home: Path) -> list[sources.Source]:
    found = sources.READERS[name](home)
    assert found, f"{name} stored no session under {home}"
    store = LocalStore(bucket, "proj")
    try:
        problems = sources.mismatches(store, name, found)
    finally:
        store.close()
    assert not problems, f"{name}: the bucket differs from what it stored:\n" + "\n".join(problems)
    return found


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_real_harness_is_mirrored_faithfully(name: str, tmp_path: Path) -> None:
    started = time.monotonic()
    installed = install(name)  # an InstallError fails the test with the installer's output
    program = PROGRAMS[name]
    home = tmp_path / "home"
    project = tmp_path / "work" / "proj"
    project.mkdir(parents=True)
    home.mkdir()
    with FakeModel(program.script()) as model:
        env = base_env(home) | program.configure(model.url, home, project)
        mirror_env = dict(env, PYTHONPATH=os.pathsep.join(sys.path))
        with program.running(installed, env, project):
            run_turn(installed, env, program.turn_one, project)
            assert model.answered(), f"{name} never called the fake model"
            assert model.wait_idle(), f"{name} kept calling the model after turn one"
            first = mirror_once_named_and_auto(name, mirror_env, project, home, tmp_path)
            with following(name, mirror_env, project, tmp_path / "named"):
                turn_two = (
                    program.turn_two(home) if callable(program.turn_two) else program.turn_two
                )
                run_turn(installed, env, turn_two, project)
                assert model.wait_idle(), f"{name} kept calling the model after turn two"
                final = caught_up(tmp_path / "named", name, home)
    assert sum(s.size for s in final) > sum(s.size for s in first), "turn two stored nothing"
    assert "LONG-OUTPUT-LINE" in sources_text(final), f"{name}: the long tool result is missing"

    if os.environ.get("TCFS_HARNESS_CAPTURE"):  # refresh the committed fixtures
        capture(name, home, tmp_path)
    ROWS.append(
        {
            "harness": name,
            "version": installed.pin.version,
            "sessions": str(len(final)),
            "children": str(sum(1 for s in final if s.parent)),
            "lines": str(sum(s.size for s in final)),
            "named": "ok",
            "auto": "ok",
            "follow": "ok",
            "s": f"{time.monotonic() - started:.0f}",
        }
    )


def mirror_once_named_and_auto(
    name: str, env: dict[str, str], project: Path, home: Path, tmp_path: Path
) -> list[sources.Source]:
    named, auto = tmp_path / "named", tmp_path / "auto"
    mirror(env, project, named, "--once", "--harness", name)
    first = faithful(named, name, home)
    again = mirror(env, project, named, "--once", "--harness", name)
    assert "0 part(s) uploaded" in again, again
    mirror(env, project, auto, "--once")
    faithful(auto, name, home)
    return first


@contextmanager
def following(name: str, env: dict[str, str], project: Path, bucket: Path) -> Iterator[None]:
    """``tcfs mirror --follow`` running; stopped by SIGTERM, which must end it cleanly."""
    follower = subprocess.Popen(
        tcfs_cmd("--follow", "--interval", "0.2", "--harness", name,
                 "--bucket", str(bucket), "--project", "proj"),
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        yield
    finally:
        follower.send_signal(signal.SIGTERM)
        try:
            out, _ = follower.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            follower.kill()
            out, _ = follower.communicate(timeout=10)
    assert follower.returncode == 0, out


def caught_up(bucket: Path, name: str, home: Path) -> list[sources.Source]:
    """The follower's bucket once it holds all that was stored (bounded wait)."""
    deadline = time.monotonic() + FOLLOW_TIMEOUT
    while True:
        try:
            return faithful(bucket, name, home)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def sources_text(found: list[sources.Source]) -> str:
    return "".join(
        s.raw.decode("utf-8", "replace") if s.raw is not None else repr(s.rows) for s in found
    )
