"""How each real harness runs one non-interactive turn against the fake
model, and ``tcfs hooks install`` as a user runs it: shared by the hook
tests that drive the real programs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.support.fakemodel import FakeModel
from tests.support.harnesses.programs import PROGRAMS


@dataclass(frozen=True)
class Run:
    """How one harness runs one non-interactive turn against the fake model."""

    api: str  # what the fake model records its requests as
    shell_tool: str
    env: Callable[[FakeModel, Path, Path], dict[str, str]]  # (model, home, project)
    argv: Callable[[str], list[str]]
    holds_turn: bool = True  # can a hook keep the turn going at its end?
    command_arg: str = "command"  # the shell tool's argument for the command line


def _claude_env(model: FakeModel, home: Path, project: Path) -> dict[str, str]:
    return {
        "ANTHROPIC_BASE_URL": model.url,
        "ANTHROPIC_API_KEY": "sk-ant-fake",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }


def _gemini_env(model: FakeModel, home: Path, project: Path) -> dict[str, str]:
    settings = home / ".gemini" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}}))
    return {
        "GOOGLE_GEMINI_BASE_URL": model.url,
        "GEMINI_API_KEY": "fake-gemini-key",
        "GEMINI_CLI_TRUST_WORKSPACE": "true",  # project hooks run in trusted folders only
    }


def _hermes_env(model: FakeModel, home: Path, project: Path) -> dict[str, str]:
    hermes_home = home / ".hermes"
    hermes_home.mkdir(parents=True, exist_ok=True)
    (hermes_home / "config.yaml").write_text(
        f"model:\n  default: fake-model\n  provider: custom\n  base_url: {model.url}/v1\n"
    )
    return {"HERMES_HOME": str(hermes_home), "OPENAI_API_KEY": "sk-fake"}


def _codex_env(model: FakeModel, home: Path, project: Path) -> dict[str, str]:
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(
        'model = "gpt-5.1-codex"\nmodel_provider = "fake"\n'
        f'[projects."{project}"]\ntrust_level = "trusted"\n'  # project hooks need it
        '[model_providers.fake]\nname = "fake"\nwire_api = "responses"\n'
        f'base_url = "{model.url}/v1"\nenv_key = "FAKE_OPENAI_KEY"\n'
    )
    return {"CODEX_HOME": str(codex_home), "FAKE_OPENAI_KEY": "sk-fake"}


def _opencode_env(model: FakeModel, home: Path, project: Path) -> dict[str, str]:
    return PROGRAMS["opencode"].configure(model.url, home, project)


RUNS = {
    "claude-code": Run(
        "anthropic",
        "Bash",
        _claude_env,
        lambda p: ["-p", p, "--allowedTools", "Bash", "--output-format", "json"],
    ),
    # an explicit model: the default "auto" asks a router model first
    "gemini": Run(
        "gemini",
        "run_shell_command",
        _gemini_env,
        lambda p: ["-m", "gemini-2.5-pro", "--yolo", "-p", p],
    ),
    "codex": Run(
        "responses",
        "exec_command",
        _codex_env,
        lambda p: [
            "exec",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
            p,
        ],
        command_arg="cmd",
    ),
    # tcfs's plugin (OpenCode has no command hooks); its models speak Chat Completions
    "opencode": Run("chat", "bash", _opencode_env, lambda p: ["run", p]),
    # no hook holds a Hermes turn open: mail sent during a turn comes with the next
    "hermes": Run("chat", "terminal", _hermes_env, lambda p: ["--yolo", "-z", p], False),
}


def hooked_env(  # type: ignore[no-untyped-def]
    program, harness: str, model: FakeModel, home: Path, project: Path, tcfs_home: Path, mnt: Path
) -> dict[str, str]:
    """The harness's environment, once ``tcfs hooks install`` has put tcfs's
    hooks for the mount ``mnt`` into the harness's settings for ``project``."""
    base = {"PATH": os.environ["PATH"], "HOME": str(home), "TCFS_HOME": str(tcfs_home)}
    env: dict[str, str] = program.env({**base, **RUNS[harness].env(model, home, project)})
    install_hooks(harness, mnt, project, env)
    return env


def install_hooks(
    harness: str, mnt: Path, project: Path, env: dict[str, str], *flags: str
) -> subprocess.CompletedProcess[str]:
    """``tcfs hooks install HARNESS --mount MNT [FLAGS]`` in ``project``, with
    the harness's environment (its home) and this test's ``TCFS_HOME``."""
    inst = subprocess.run(
        [sys.executable, "-m", "tcfs", "hooks", "install", harness, "--mount", str(mnt), *flags],
        cwd=project,
        env={**env, "TCFS_HOME": os.environ.get("TCFS_HOME", env.get("TCFS_HOME", ""))},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert inst.returncode == 0, inst.stderr
    return inst


def tool_results(model: FakeModel, api: str = "anthropic") -> list[str]:
    """The tool results an Anthropic-API harness sent back, oldest first."""
    return [
        str(part.get("content"))
        for r in model.answered(api)
        for msg in r.body.get("messages", [])
        if isinstance(msg.get("content"), list)
        for part in msg["content"]
        if part.get("type") == "tool_result"
    ]
