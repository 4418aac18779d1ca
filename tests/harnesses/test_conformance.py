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
from pathlib import Path

import pytest

from tcfs.store.local import LocalStore
from tests.fakemodel import FakeModel
from tests.harnesses import sources
from tests.harnesses.conftest import ROWS
from tests.harnesses.fixtures import capture
from tests.harnesses.install import PINS, install
from tests.harnesses.programs import PROGRAMS, base_env, run_turn
from tests.mirror.conftest import run_mirror, tcfs_cmd

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
        run_turn(installed, env, program.turn_one, project)
        assert model.answered(), f"{name} never called the fake model"

        named, auto = tmp_path / "named", tmp_path / "auto"
        mirror(mirror_env, project, named, "--once", "--harness", name)
        first = faithful(named, name, home)
        again = mirror(mirror_env, project, named, "--once", "--harness", name)
        assert "0 part(s) uploaded" in again, again
        mirror(mirror_env, project, auto, "--once")
        faithful(auto, name, home)

        follower = subprocess.Popen(
            tcfs_cmd("--follow", "--interval", "0.2", "--harness", name,
                     "--bucket", str(named), "--project", "proj"),
            cwd=project,
            env=mirror_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        try:
            turn_two = program.turn_two(home) if callable(program.turn_two) else program.turn_two
            run_turn(installed, env, turn_two, project)
            deadline = time.monotonic() + FOLLOW_TIMEOUT
            while True:
                try:
                    final = faithful(named, name, home)
                    break
                except AssertionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        finally:
            follower.send_signal(signal.SIGTERM)
            try:
                out, _ = follower.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                follower.kill()
                out, _ = follower.communicate(timeout=10)
        assert follower.returncode == 0, out
        assert sum(s.size for s in final) > sum(s.size for s in first), "turn two stored nothing"
        long_output = sources_text(final)
        assert "LONG-OUTPUT-LINE" in long_output, f"{name}: the long tool result is missing"

    if os.environ.get("TCFS_HARNESS_CAPTURE"):  # refresh the committed fixtures
        capture(name, home, tmp_path)
    children = [s for s in final if s.parent]
    ROWS.append(
        {
            "harness": name,
            "version": PINS[name].version,
            "sessions": str(len(final)),
            "children": str(len(children)),
            "lines": str(sum(s.size for s in final)),
            "named": "ok",
            "auto": "ok",
            "follow": "ok",
            "s": f"{time.monotonic() - started:.0f}",
        }
    )


def sources_text(found: list[sources.Source]) -> str:
    return "".join(
        s.raw.decode("utf-8", "replace") if s.raw is not None else repr(s.rows) for s in found
    )
