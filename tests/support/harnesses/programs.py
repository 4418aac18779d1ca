"""How each real harness is pointed at the fake model and run for one turn.

Every run gets an isolated ``HOME`` (and XDG directories) under a temporary
directory, the fake model's base URL through the harness's own setting, a
fake API key, telemetry and update checks off, and a timeout.  Each
:class:`Program` knows its harness's tool names and argument shapes for the
scenario in :mod:`tests.support.harnesses.scenario`.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.fakemodel import Conversation, Script, Text, ToolCall
from tests.support.harnesses import scenario as sc
from tests.support.harnesses.install import Installed
from tests.support.procs import stop
from tests.support.s3server import free_port

TURN_TIMEOUT = 240.0  # seconds for one turn of one harness


@dataclass(frozen=True)
class Program:
    name: str  # the install pin's and the mirror adapter's name
    configure: Callable[[str, Path, Path], dict[str, str]]  # (model url, home, project) -> env
    turn_one: list[str]
    turn_two: list[str] | Callable[[Path], list[str]]  # may need what turn one stored
    shell: Callable[[str], ToolCall]
    subagent: Callable[[str], ToolCall] | None
    extra: Callable[[Script], None] | None = None
    # a daemon the turns need (OpenClaw's gateway), running around both turns
    service: Callable[[Installed, dict[str, str], Path], AbstractContextManager[None]] | None = None

    def script(self) -> Script:
        return sc.script(self.shell, self.subagent, extra=self.extra)

    def running(
        self, installed: Installed, env: dict[str, str], cwd: Path
    ) -> AbstractContextManager[None]:
        return self.service(installed, env, cwd) if self.service else nullcontext()


def base_env(home: Path) -> dict[str, str]:
    """A clean environment: nothing of the caller's but PATH and the locale."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
    return {
        **keep,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "TERM": "dumb",
        "NO_COLOR": "1",
        "CI": "1",
        "npm_config_update_notifier": "false",
    }


def run_turn(
    installed: Installed,
    env: dict[str, str],
    argv: list[str],
    cwd: Path,
    timeout: float = TURN_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """One non-interactive turn; raises AssertionError with the output on failure."""
    try:
        proc = subprocess.run(
            [*installed.argv, *argv],
            cwd=cwd,
            env=installed.env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{installed.pin.label} {argv[:3]}: no answer in {e.timeout}s") from e
    if proc.returncode != 0:
        raise AssertionError(
            f"{installed.pin.label} {argv[:3]} exited {proc.returncode}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# ---------------------------------------------------------------- Claude Code


def _claude(url: str, home: Path, project: Path) -> dict[str, str]:
    return {
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": "sk-ant-fake",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }


CLAUDE_FLAGS = ["--allowedTools", "Bash,Agent", "--output-format", "json"]

# -------------------------------------------------------------------- Codex


def _codex(url: str, home: Path, project: Path) -> dict[str, str]:
    codex_home = home / ".codex"
    _write(
        codex_home / "config.toml",
        f"""model = "gpt-5.1-codex"
model_provider = "fake"
check_for_update_on_startup = false

[analytics]
enabled = false

[model_providers.fake]
name = "fake"
base_url = "{url}/v1"
wire_api = "responses"
env_key = "FAKE_MODEL_API_KEY"
""",
    )
    return {"CODEX_HOME": str(codex_home), "FAKE_MODEL_API_KEY": "sk-fake"}


def _codex_wait(s: Script) -> None:
    # spawn_agent returns at once; wait for the child so it ends inside the turn.
    def target(conv: Conversation) -> dict[str, Any]:
        return {"targets": [json.loads(conv.last)["agent_id"]], "timeout_ms": 60000}

    s.on('"agent_id"', ToolCall(("wait_agent",), target), times=1)


CODEX_FLAGS = ["exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox"]

# ------------------------------------------------------------------- Gemini


def _gemini(url: str, home: Path, project: Path) -> dict[str, str]:
    settings = {
        "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": False}},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
    }
    _write(home / ".gemini" / "settings.json", json.dumps(settings))
    return {"GEMINI_API_KEY": "fake-gemini-key", "GOOGLE_GEMINI_BASE_URL": url}


def _gemini_complete(s: Script) -> None:
    # A Gemini subagent ends by calling complete_task.
    s.on("SUBAGENT-TASK", ToolCall(("complete_task",), {"result": sc.SUB_REPLY}), times=1)


# An explicit model skips the CLI's model router (extra classifier requests).
GEMINI_FLAGS = ["-m", "gemini-2.5-flash", "--yolo"]

# ----------------------------------------------------------------- OpenCode


def _opencode(url: str, home: Path, project: Path) -> dict[str, str]:
    config = {
        "$schema": "https://opencode.ai/config.json",
        "provider": {
            "fake": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Fake",
                "options": {"baseURL": f"{url}/v1", "apiKey": "sk-fake"},
                "models": {"fake-model": {"name": "Fake model", "tool_call": True}},
            }
        },
        "model": "fake/fake-model",
        "small_model": "fake/fake-model",
        "autoupdate": False,
        "share": "disabled",
        "permission": {"bash": "allow", "edit": "allow", "webfetch": "allow"},
    }
    _write(home / ".config" / "opencode" / "opencode.json", json.dumps(config))
    return {
        "OPENCODE_DISABLE_MODELS_FETCH": "1",
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
        "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
        "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
    }


# ----------------------------------------------------------------- OpenClaw


def _openclaw(url: str, home: Path, project: Path) -> dict[str, str]:
    model = {
        "id": "fake-model",
        "name": "Fake",
        "reasoning": False,
        "input": ["text"],
        "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
        "contextWindow": 128000,
        "maxTokens": 8192,
    }
    config = {
        "agents": {"defaults": {"model": {"primary": "fake/fake-model"}}},
        "models": {
            "mode": "merge",
            "providers": {
                "fake": {
                    "baseUrl": f"{url}/v1",
                    "apiKey": "sk-fake",
                    "api": "openai-completions",
                    "models": [model],
                }
            },
        },
        "update": {"checkOnStart": False},
    }
    _write(home / ".openclaw" / "openclaw.json", json.dumps(config))
    return {"OPENCLAW_NO_UPDATE_CHECK": "1"}


OPENCLAW_SESSION = "conformance"
OPENCLAW_FLAGS = ["agent", "--session-id", OPENCLAW_SESSION, "-m"]
GATEWAY_START_TIMEOUT = 120.0


@contextmanager
def _openclaw_gateway(installed: Installed, env: dict[str, str], cwd: Path) -> Iterator[None]:
    """The gateway on a loopback port: subagents (sessions_spawn) run only there."""
    port = free_port()
    config_path = Path(env["HOME"]) / ".openclaw" / "openclaw.json"
    config = json.loads(config_path.read_text())
    config["gateway"] = {
        "mode": "local",
        "port": port,
        "bind": "loopback",
        "auth": {"mode": "none"},
    }
    config_path.write_text(json.dumps(config))
    log = open(Path(env["HOME"]) / "gateway.log", "wb")  # noqa: SIM115 - closed below
    gateway = subprocess.Popen(
        [*installed.argv, "gateway", "--port", str(port), "--bind", "loopback", "--auth", "none"],
        cwd=cwd,
        env=installed.env(env),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + GATEWAY_START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if gateway.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"the OpenClaw gateway did not listen on {port}: see {log.name}"
                    ) from None
                time.sleep(0.5)
        yield
    finally:
        stop(gateway, timeout=30)
        log.close()


# ------------------------------------------------------------------- Hermes


def _hermes(url: str, home: Path, project: Path) -> dict[str, str]:
    hermes_home = home / ".hermes"
    _write(
        hermes_home / "config.yaml",
        f"model:\n  provider: custom\n  default: fake-model\n  base_url: {url}/v1\n"
        "  api_key: sk-fake\n",
    )
    return {"HERMES_HOME": str(hermes_home), "OPENAI_API_KEY": "sk-fake"}


def _hermes_session(home: Path) -> str:
    """The top-level session turn one started."""
    with sqlite3.connect(f"file:{home / '.hermes' / 'state.db'}?mode=ro", uri=True) as conn:
        row = conn.execute(
            "SELECT id FROM sessions WHERE parent_session_id IS NULL ORDER BY started_at DESC"
        ).fetchone()
    return str(row[0])


PROGRAMS: dict[str, Program] = {
    p.name: p
    for p in (
        Program(
            "claude-code",
            _claude,
            ["-p", sc.TURN_ONE, *CLAUDE_FLAGS],
            ["-p", sc.TURN_TWO, "--continue", *CLAUDE_FLAGS],
            lambda c: ToolCall(("Bash",), {"command": c, "description": "Run the step"}),
            lambda p: ToolCall(
                ("Agent", "Task"),
                {"description": "subagent step", "prompt": p, "subagent_type": "general-purpose"},
            ),
        ),
        Program(
            "codex",
            _codex,
            [*CODEX_FLAGS, sc.TURN_ONE],
            [*CODEX_FLAGS, "resume", "--last", sc.TURN_TWO],
            lambda c: ToolCall(("exec_command", "shell"), {"cmd": c}),
            lambda p: ToolCall(("spawn_agent",), {"message": p}),
            extra=_codex_wait,
        ),
        Program(
            "gemini",
            _gemini,
            [*GEMINI_FLAGS, "-p", sc.TURN_ONE],
            [*GEMINI_FLAGS, "--resume", "latest", "-p", sc.TURN_TWO],
            lambda c: ToolCall(("run_shell_command",), {"command": c}),
            lambda p: ToolCall(("invoke_agent",), {"agent_name": "generalist", "prompt": p}),
            extra=_gemini_complete,
        ),
        Program(
            "opencode",
            _opencode,
            ["run", sc.TURN_ONE],
            ["run", "--continue", sc.TURN_TWO],
            lambda c: ToolCall(("bash",), {"command": c, "description": "Run the step"}),
            lambda p: ToolCall(
                ("task",), {"description": "subagent step", "prompt": p, "subagent_type": "general"}
            ),
        ),
        Program(
            "openclaw",
            _openclaw,
            [*OPENCLAW_FLAGS, sc.TURN_ONE],
            [*OPENCLAW_FLAGS, sc.TURN_TWO],
            lambda c: ToolCall(("exec",), {"command": c}),
            # Its spawn tool sits behind the tool-search surface: called by name.
            lambda p: ToolCall(("tool_call",), {"id": "sessions_spawn", "args": {"task": p}}),
            service=_openclaw_gateway,
        ),
        Program(
            "hermes",
            _hermes,
            ["--yolo", "-z", sc.TURN_ONE],
            # One-shot -z always starts a new session; chat -q resumes one.
            lambda home: [
                "--yolo",
                "chat",
                "-Q",
                "--resume",
                _hermes_session(home),
                "-q",
                sc.TURN_TWO,
            ],
            lambda c: ToolCall(("terminal",), {"command": c}),
            lambda p: ToolCall(("delegate_task",), {"goal": p}),
        ),
    )
}

__all__ = ["PROGRAMS", "Program", "Text", "base_env", "run_turn"]
