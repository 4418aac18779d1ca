"""Each harness as its users start it: its documented headless mode, its own
safety settings, no bypass flag, after ``tcfs hooks install HARNESS --mount M
--trust`` and ``tcfs instructions HARNESS --install``, with the mount outside
the project (and outside /tmp, which some sandboxes leave writable).  The
instructions reach the model; the agent claims a step, learns that a step
another agent holds is taken ("File exists"), gets mail sent from another
mount through the hooks, and waits on a step completed 3 s later."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hooks.conftest import TURN_S
from tests.hooks.runs import install_hooks
from tests.support.fakemodel import FakeModel, Script
from tests.support.harnesses.install import install
from tests.support.harnesses.programs import PROGRAMS, base_env, run_turn
from tests.support.mounts import sh

pytestmark = [pytest.mark.mount, pytest.mark.harness, pytest.mark.slow]


def _gemini(url: str, home: Path, project: Path) -> dict[str, str]:
    """Gemini's settings without the tests' folder-trust shortcut."""
    settings = {
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
    }
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(settings))
    return {"GEMINI_API_KEY": "fake-gemini-key", "GOOGLE_GEMINI_BASE_URL": url}


def _opencode(url: str, home: Path, project: Path) -> dict[str, str]:
    """OpenCode's provider, with no permission settings of the tests' own."""
    env = PROGRAMS["opencode"].configure(url, home, project)
    config = home / ".config" / "opencode" / "opencode.json"
    doc = json.loads(config.read_text())
    del doc["permission"]
    config.write_text(json.dumps(doc))
    return env


@dataclass(frozen=True)
class Mode:
    """How a user runs one harness headless: the arguments around a prompt."""

    argv: Callable[[str], list[str]]
    configure: Callable[[str, Path, Path], dict[str, str]] | None = None  # else the program's


MODES = {
    "claude-code": Mode(lambda p: ["-p", p, "--output-format", "json"]),
    "codex": Mode(lambda p: ["exec", "--skip-git-repo-check", "-s", "workspace-write", p]),
    "gemini": Mode(lambda p: ["-m", "gemini-2.5-flash", "-p", p, "--yolo"], _gemini),
    "opencode": Mode(lambda p: ["run", p], _opencode),
    "openclaw": Mode(lambda p: ["agent", "--session-id", f"s-{p.lower()}", "-m", p]),
    "hermes": Mode(lambda p: ["-z", p]),
}


@pytest.fixture
def outside_tmp() -> Iterator[Path]:
    """A folder outside /tmp, for the mounts and the harness's home."""
    root = Path(tempfile.mkdtemp(prefix="tcfs-own-settings-", dir=Path.home()))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
@pytest.mark.parametrize("harness", sorted(MODES))
def test_a_harness_in_its_own_safety_settings_coordinates_through_the_mount(  # type: ignore[no-untyped-def]
    outside_tmp: Path, tmp_path: Path, mount, harness: str
) -> None:
    mode, program = MODES[harness], PROGRAMS[harness]
    ma = mount("alice", under=outside_tmp).path
    mb = mount("beta", under=outside_tmp).path
    project, home = tmp_path / "project", outside_tmp / "home"
    project.mkdir()
    home.mkdir()
    assert sh(f"echo beta > {mb}/steps/review/claim").returncode == 0

    # what each turn's tool prints is upper-cased, so it shows in the model's
    # next request only if the command ran (the command's own text is lower case)
    script = Script()
    for prompt, command in {
        "TURN-CLAIM": f"echo alice > {ma}/steps/api/claim; cat {ma}/steps/api/claim | tr a-z A-Z",
        "TURN-LOSE": f"echo alice > {ma}/steps/review/claim",
        "TURN-WAIT": f"cat {ma}/steps/build/wait | tr a-z A-Z",
    }.items():
        script.on(prompt, program.shell(command))
    installed = install(harness)

    with FakeModel(script) as model:
        env = base_env(home)
        env.update((mode.configure or program.configure)(model.url, home, project))
        print(install_hooks(harness, ma, project, env, "--trust").stdout)
        # the instruction file, where this harness reads it (OpenClaw: its workspace)
        told = subprocess.run(
            [
                sys.executable,
                "-m",
                "tcfs",
                "instructions",
                harness,
                "--mount",
                str(ma),
                "--install",
            ],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert told.returncode == 0, told.stderr

        def turn(prompt: str) -> str:
            seen = len(model.answered())
            run_turn(installed, env, mode.argv(prompt), project, timeout=TURN_S)
            return "\n".join(json.dumps(r.body) for r in model.answered()[seen:])

        with program.running(installed, env, project):
            sent = turn("TURN-CLAIM")
            assert "AGENT: ALICE" in sent, sent[-2000:]
            assert "Coordinating with other agents (tcfs)" in sent  # the instructions arrived
            assert "agent: alice" in sh(f"cat {mb}/steps/api/claim").stdout

            sent = turn("TURN-LOSE")
            assert "File exists" in sent, sent[-2000:]

            assert sh(f"echo 'MAIL-FROM-BETA review the api' > {mb}/outbox/alice").returncode == 0
            sent = turn("TURN-MAIL")
            assert "MAIL-FROM-BETA" in sent and "from beta (direct" in sent, sent[-2000:]

            def complete_build() -> None:
                time.sleep(3)
                sh(f"echo beta > {mb}/steps/build/claim; echo complete > {mb}/steps/build/status")

            worker = threading.Thread(target=complete_build)
            worker.start()
            try:
                sent = turn("TURN-WAIT")
            finally:
                worker.join(timeout=30)
            assert "COMPLETE" in sent, sent[-2000:]
