"""``tcfs hooks install / uninstall / status`` on settings files that hold the
user's own hooks and settings: tcfs's part comes and goes, every other byte
stays, and a file tcfs cannot read as JSON is refused and left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tcfs.harnesses import hooked
from tcfs.hooks import hookfile, install, pluginfile
from tcfs.hooks.harness import Harness, load
from tests.support.hook_installs import refused, tcfs

FOREIGN = """{
    "model": "opus",
    "permissions": {"allow": ["Bash(ls:*)"], "deny": []},
    "env": {"GREETING": "h\\u00e9llo \\"world\\"", "RATIO": 1.50},
    "hooks": {
        "SessionStart": [
            {
                "matcher": "startup",
                "hooks": [{"type": "command", "command": "echo foreign-start", "timeout": 3}]
            }
        ],
        "PreToolUse": [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "./guard.sh"}]}
        ],
        "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]
    },
    "statusLine": {"type": "command", "command": "echo ☃"}
}
"""


def _foreign(doc: dict) -> dict:  # type: ignore[type-arg]
    """The document without tcfs's handlers and grants (and the containers only they filled)."""
    out = json.loads(json.dumps(doc))
    allow = out.get("permissions", {}).get("allow")
    if allow is not None:  # Claude Code's rules for the mount
        out["permissions"]["allow"] = [r for r in allow if "//mnt/" not in r]
    for event, groups in list(out.get("hooks", {}).items()):
        for g in groups:
            g["hooks"] = [h for h in g["hooks"] if "tcfs/hooks" not in h.get("command", "")]
        out["hooks"][event] = [g for g in groups if g["hooks"]]
        if not out["hooks"][event]:
            del out["hooks"][event]
    return out


JSON_HOOKED = [n for n in hooked() if load(n).config == "json"]


@pytest.mark.parametrize("harness", JSON_HOOKED)
def test_install_reinstall_uninstall_keep_foreign_bytes(tmp_path: Path, harness: str) -> None:
    h = load(harness)
    path = tmp_path / h.project_file
    path.parent.mkdir(parents=True)
    path.write_text(FOREIGN, encoding="utf-8")
    before = path.read_bytes()

    out = tcfs(tmp_path, "hooks", "install", harness, "--mount", "/mnt/a")
    assert out.returncode == 0, out.stderr
    assert "installed" in out.stdout and str(path) in out.stdout
    doc = json.loads(path.read_text())
    assert _foreign(doc) == json.loads(FOREIGN)  # every foreign entry is still there
    for event in h.events.values():
        ours = [
            hd["command"]
            for g in doc["hooks"][event]
            for hd in g["hooks"]
            if "tcfs/hooks" in hd["command"]
        ]
        assert len(ours) == 1 and ours[0].endswith("--mount /mnt/a"), ours
    for event, matcher in h.matchers.items():  # the edit hook: in a group for the edit tools
        groups = doc["hooks"][event]
        assert [g.get("matcher") for g in groups if "tcfs/hooks" in str(g)] == [matcher]
    # the foreign text is still there byte for byte, only added to
    assert b'"GREETING": "h\\u00e9llo \\"world\\"", "RATIO": 1.50' in path.read_bytes()

    installed = path.read_bytes()
    stat = path.stat()
    out = tcfs(tmp_path, "hooks", "install", harness, "--mount", "/mnt/a")
    assert out.returncode == 0 and "already installed" in out.stdout
    assert path.read_bytes() == installed and path.stat().st_mtime_ns == stat.st_mtime_ns

    status = tcfs(tmp_path, "hooks", "status")
    assert f"{harness} (project): " in status.stdout and "/mnt/a" in status.stdout

    # another mount replaces tcfs's handlers instead of adding a second set
    assert tcfs(tmp_path, "hooks", "install", harness, "--mount", "/mnt/b").returncode == 0
    text = path.read_text()
    assert "/mnt/b" in text and "/mnt/a" not in text

    out = tcfs(tmp_path, "hooks", "uninstall", harness)
    assert out.returncode == 0 and "removed" in out.stdout
    assert path.read_bytes() == before
    assert "none in" in tcfs(tmp_path, "hooks", "uninstall", harness).stdout
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "text",
    [
        '{"hooks": {"Stop": []},}\n',  # trailing comma
        '{"hooks": {"Stop": [}\n',  # cut short
        "// a comment\n{}\n",
        '{"hooks": ["not", "an", "object"]}\n',
        '{"hooks": {"Stop": {"hooks": []}}}\n',
        '["a list"]\n',
    ],
)
def test_a_malformed_file_is_refused_and_left_as_it_was(tmp_path: Path, text: str) -> None:
    path = tmp_path / ".claude" / "settings.local.json"
    path.parent.mkdir()
    path.write_text(text)
    refused(tmp_path, "claude-code", path, text)
    assert "nothing was changed" in tcfs(tmp_path, "hooks", "status").stdout
    assert sorted(p.name for p in path.parent.iterdir()) == ["settings.local.json"]  # no temp


def test_a_new_file_a_one_line_file_and_the_user_scope(tmp_path: Path) -> None:
    h = load("claude-code")
    cfg = tmp_path / "claude-home"
    env = {"CLAUDE_CONFIG_DIR": str(cfg)}
    out = tcfs(tmp_path, "hooks", "install", "claude-code", "--mount", "mnt", "--user", env=env)
    assert out.returncode == 0, out.stderr
    user_file = cfg / "settings.json"
    doc = json.loads(user_file.read_text())
    assert os.path.abspath(tmp_path / "mnt") in doc["hooks"]["Stop"][0]["hooks"][0]["command"]
    assert user_file.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / h.project_file).exists()
    assert "claude-code (user): SessionStart" in tcfs(tmp_path, "hooks", "status", env=env).stdout

    one_line = tmp_path / "one.json"
    one_line.write_text('{"a":1,"hooks":{"Stop":[{"hooks":[{"type":"command","command":"x"}]}]}}')
    one_line.chmod(0o644)
    before = one_line.read_bytes()
    assert hookfile.install(
        one_line, "claude-code", {"Stop": h.handler("py -m tcfs.hooks claude-code stop")}
    )
    assert "\n" not in one_line.read_text() and one_line.stat().st_mode & 0o777 == 0o644
    assert hookfile.uninstall(one_line, "claude-code")
    assert one_line.read_bytes() == before


def test_instructions_for_every_harness_and_hooks_for_each(tmp_path: Path) -> None:
    text = tcfs(tmp_path, "instructions", "openclaw", "--mount", "/mnt/a")
    assert text.returncode == 0 and "workspace/AGENTS.md" in text.stderr
    assert "cat /mnt/a/inbox/unread" in text.stdout and "/mnt/a/outbox/<agent>" in text.stdout
    assert "CLAUDE.md" in tcfs(tmp_path, "instructions", "claude-code").stderr
    assert list(tmp_path.iterdir()) == []
    status = tcfs(tmp_path, "hooks", "status").stdout
    for name in hooked():
        assert f"{name} (" in status, status


def test_the_command_written_runs_the_lean_entry_point(tmp_path: Path) -> None:
    h = load("claude-code")
    cmd = install.command(h, "stop", "/mnt/with space")
    assert cmd.startswith(f"{sys.executable} -I -S ") and "claude-code stop" in cmd
    assert cmd.endswith("--mount '/mnt/with space'")
    assert hookfile.marker("claude-code").search(cmd) and not hookfile.marker("codex").search(cmd)
    # what the harness runs answers, from any working directory, without site packages
    proc = subprocess.run(
        ["sh", "-c", cmd], cwd="/", input="{}", capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0 and json.loads(proc.stdout) == {
        "systemMessage": "tcfs: /mnt/with space is not mounted; messages cannot be checked"
    }


HERMES_CONFIG = """model:
  default: some-model   # a comment
  provider: custom
terminal:
  backend: local
"""


def test_hermes_gets_a_marked_block_and_its_consent(tmp_path: Path) -> None:
    home = tmp_path / "hermes-home"
    home.mkdir()
    cfg = home / "config.yaml"
    cfg.write_text(HERMES_CONFIG)
    allow = home / "shell-hooks-allowlist.json"
    foreign = '{"approvals": [{"event": "pre_tool_call", "command": "/bin/guard"}]}\n'
    allow.write_text(foreign)
    env = {"HERMES_HOME": str(home)}
    out = tcfs(tmp_path, "hooks", "install", "hermes", "--mount", "/mnt/h", env=env)
    assert out.returncode == 0, out.stderr
    text = cfg.read_text()
    assert text.startswith(HERMES_CONFIG) and "  pre_llm_call:\n    - command: '" in text
    approvals = json.loads(allow.read_text())["approvals"]
    assert approvals[0] == {"event": "pre_tool_call", "command": "/bin/guard"}
    assert [a["event"] for a in approvals[1:]] == ["pre_llm_call", "pre_tool_call"]
    for ours in approvals[1:]:
        assert ours["command"].endswith("--mount /mnt/h")
        assert ours["command"] in text  # the approval is for exactly the command configured
    assert "      matcher: '^(write_file|patch)$'\n" in text  # the edit hook: edit tools only
    before = cfg.read_bytes()
    assert (
        "already installed"
        in tcfs(tmp_path, "hooks", "install", "hermes", "--mount", "/mnt/h", env=env).stdout
    )
    assert cfg.read_bytes() == before and len(json.loads(allow.read_text())["approvals"]) == 3
    status = tcfs(tmp_path, "hooks", "status", env=env).stdout
    assert "hermes (user): pre_llm_call, pre_tool_call -> /mnt/h" in status

    assert tcfs(tmp_path, "hooks", "uninstall", "hermes", env=env).returncode == 0
    assert cfg.read_text() == HERMES_CONFIG
    assert json.loads(allow.read_text())["approvals"] == [
        {"event": "pre_tool_call", "command": "/bin/guard"}
    ]

    # a hooks: section of the user's own is never edited: the lines are shown instead
    own = HERMES_CONFIG + "hooks:\n  on_session_start:\n    - command: /bin/hello\n"
    cfg.write_text(own)
    out = tcfs(tmp_path, "hooks", "install", "hermes", "--mount", "/mnt/h", env=env)
    assert out.returncode == 1 and "already has its own `hooks:` section" in out.stderr
    assert "pre_llm_call:" in out.stderr and cfg.read_text() == own


def test_codex_trust_and_feature_flag_come_and_go(tmp_path: Path) -> None:
    from tcfs.hooks.codex import trusted_hash

    codex_home = tmp_path / "codex-home"
    codex_home.mkdir()
    config = codex_home / "config.toml"
    own = 'model = "gpt-5.1-codex"\n\n[projects."/src/app"]\ntrust_level = "trusted"\n'
    config.write_text(own)
    env = {"CODEX_HOME": str(codex_home)}
    assert tcfs(tmp_path, "hooks", "install", "codex", "--mount", "/mnt/c", env=env).returncode == 0
    hooks = json.loads((tmp_path / ".codex" / "hooks.json").read_text())["hooks"]
    text = config.read_text()
    assert text.startswith(own) and "[features]\nhooks = true\n" in text
    for event, snake in (("SessionStart", "session_start"), ("Stop", "stop")):
        handler = hooks[event][0]["hooks"][0]
        key = f"{(tmp_path / '.codex' / 'hooks.json').resolve()}:{snake}:0:0"
        assert f'[hooks.state."{key}"]\ntrusted_hash = "{trusted_hash(event, handler)}"' in text
    before = config.read_bytes()
    assert tcfs(tmp_path, "hooks", "install", "codex", "--mount", "/mnt/c", env=env).returncode == 0
    assert config.read_bytes() == before
    assert tcfs(tmp_path, "hooks", "uninstall", "codex", env=env).returncode == 0
    assert config.read_text() == own

    # a config with a [features] table of its own gets no second one
    config.write_text(own + "\n[features]\nweb_search = true\n")
    assert tcfs(tmp_path, "hooks", "install", "codex", "--mount", "/mnt/c", env=env).returncode == 0
    assert config.read_text().count("[features]") == 1


# ---------------------------------------------------------------- plugin files


def _plugin_harness(user_dir: Path) -> Harness:
    """A harness of the plugin kind: tcfs's hooks are one file it loads."""
    return Harness(
        name="demo",
        project_file=".demo/plugins/tcfs.js",
        user_file=lambda: user_dir / "plugins" / "tcfs.js",
        events={"prompt": "chat.message", "stop": "turn.end"},
        timeout=2,
        format=lambda event, answer: {},
        config="plugin",
        plugin=lambda commands: f"export const COMMANDS = {json.dumps(commands)}\n",
    )


FOREIGN_PLUGIN = "// my own plugin\nexport const Mine = async () => ({})\n"


def test_a_plugin_file_is_written_whole_and_removed_only_when_tcfs_wrote_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    h = _plugin_harness(tmp_path / "user")
    plugins = tmp_path / ".demo" / "plugins"
    plugins.mkdir(parents=True)
    neighbour = plugins / "mine.js"
    neighbour.write_text(FOREIGN_PLUGIN)

    path, changed, _ = install.install(h, "/mnt/a b", user=False)
    assert changed and path == plugins / "tcfs.js"
    first, body = path.read_text().split("\n", 1)
    assert first.startswith("// tcfs hooks install demo --mount '/mnt/a b' wrote this file")
    commands = json.loads(body.removeprefix("export const COMMANDS = "))
    assert sorted(commands) == ["prompt", "stop"]  # our events, each with its command
    assert commands["stop"] == install.command(h, "stop", "/mnt/a b")
    assert install.status(h, user=False)[:3] == (path, ["chat.message", "turn.end"], ["/mnt/a b"])

    written, stat = path.read_bytes(), path.stat()
    assert install.install(h, "/mnt/a b", user=False)[:2] == (path, False)  # twice: a no-op
    assert path.read_bytes() == written and path.stat().st_mtime_ns == stat.st_mtime_ns

    assert install.install(h, "/mnt/c", user=False)[:2] == (path, True)  # another mount: rewritten
    assert install.status(h, user=False).mounts == ["/mnt/c"]
    assert "/mnt/a b" not in path.read_text()

    assert install.uninstall(h, user=False)[:2] == (path, True)
    assert not path.exists() and neighbour.read_text() == FOREIGN_PLUGIN
    assert install.uninstall(h, user=False)[:2] == (path, False)
    assert install.status(h, user=False)[:3] == (path, [], [])

    # the user scope is the other file, and only it
    upath, changed, _ = install.install(h, "/mnt/u", user=True)
    assert changed and upath == tmp_path / "user" / "plugins" / "tcfs.js"
    assert upath.stat().st_mode & 0o777 == 0o600 and not path.exists()
    assert install.status(h, user=True).mounts == ["/mnt/u"]
    assert install.uninstall(h, user=True)[:2] == (upath, True) and not upath.exists()


@pytest.mark.parametrize(
    "text",
    [
        FOREIGN_PLUGIN,
        "",
        # tcfs's marker, but for another harness: not this harness's file either
        "// tcfs hooks install other --mount /mnt/a wrote this file; `tcfs hooks uninstall "
        "other` removes it\n",
        # the marker further down is no marker: only the first line counts
        "export {}\n// tcfs hooks install demo --mount /mnt/a wrote this file; x\n",
    ],
)
def test_a_foreign_plugin_file_of_the_same_name_is_refused_and_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.chdir(tmp_path)
    h = _plugin_harness(tmp_path / "user")
    path = tmp_path / ".demo" / "plugins" / "tcfs.js"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(hookfile.SettingsError, match="nothing was changed") as err:
        install.install(h, "/mnt/a", user=False)
    assert str(path) in str(err.value) and "not tcfs's" in str(err.value)
    assert install.uninstall(h, user=False)[:2] == (path, False)
    with pytest.raises(hookfile.SettingsError, match="not tcfs's"):
        install.status(h, user=False)
    assert path.read_text() == text
    assert sorted(p.name for p in path.parent.iterdir()) == ["tcfs.js"]  # no temp file


def test_the_plugin_marker_reads_back_any_mountpoint_in_any_comment_style() -> None:
    for mountpoint in ("/mnt/tc", "/mnt/it's here", '/mnt/"q" $x `y`', "/mnt/ü wrote this file; "):
        for name in ("tcfs.js", "tcfs.ts", "HOOK.md", "hook.py"):
            line = pluginfile.marker(Path(name), "demo", mountpoint)
            assert line.endswith("\n") and line.count("\n") == 1
            assert pluginfile.owner(line + "rest\n") == ("demo", mountpoint), (name, line)
    assert pluginfile.marker(Path("HOOK.md"), "demo", "/m").startswith("<!-- tcfs hooks install")
    assert (
        pluginfile.owner("// tcfs hooks install demo --mount 'unclosed wrote this file; \n") is None
    )


FOREIGN_FILES = {
    ".claude/settings.local.json": '{"permissions": {"allow": ["Bash(ls:*)"]}, "model": "x"}\n',
    ".codex/config.toml": '# mine\nmodel = "o4"\n',
    "opencode.json": '{\n  "permission": {"bash": "ask"},\n  "model": "a/b"\n}\n',
    "home/.codex/config.toml": '[projects."/elsewhere"]\ntrust_level = "untrusted"\n',
    "home/.gemini/trustedFolders.json": '{\n  "/elsewhere": "DO_NOT_TRUST"\n}\n',
}


@pytest.mark.parametrize("foreign", [False, True], ids=["no-files", "users-files"])
@pytest.mark.parametrize("harness", hooked())
def test_install_with_grants_and_trust_then_uninstall_restores_every_file(
    tmp_path: Path, harness: str, foreign: bool
) -> None:
    """Whatever ``--trust`` and the mount's grants added, in the project and
    in the harness's home, uninstall takes back: every file as it was, byte
    for byte, and none left that was not there."""
    home = tmp_path / "home"
    env = {
        "HOME": str(home),
        "CODEX_HOME": str(home / ".codex"),
        "GEMINI_CLI_HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "HERMES_HOME": str(home / ".hermes"),
        "OPENCLAW_STATE_DIR": str(home / ".openclaw"),
    }
    for name, text in FOREIGN_FILES.items() if foreign else ():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    home.mkdir(exist_ok=True)

    def snapshot() -> dict[str, bytes | None]:
        return {
            str(p.relative_to(tmp_path)): None if p.is_dir() else p.read_bytes()
            for p in sorted(tmp_path.rglob("*"))
        }

    before = snapshot()
    out = tcfs(tmp_path, "hooks", "install", harness, "--mount", "/srv/m a", "--trust", env=env)
    assert out.returncode == 0, out.stderr
    h = load(harness)
    if h.access is not None:
        assert "granted:" in out.stdout and "/srv/m a" in out.stdout
    if h.trust is not None:
        assert f"trusts {tmp_path}" in out.stdout
    assert snapshot() != before
    status = tcfs(tmp_path, "hooks", "status", env=env).stdout
    assert ("granted:" in status) == (h.access is not None or h.trust is not None)
    again = tcfs(tmp_path, "hooks", "install", harness, "--mount", "/srv/m a", "--trust", env=env)
    assert again.returncode == 0 and "granted:" not in again.stdout  # twice: nothing new

    out = tcfs(tmp_path, "hooks", "uninstall", harness, env=env)
    assert out.returncode == 0, out.stderr
    assert snapshot() == before


def test_instructions_fit_each_harness_and_install_where_it_reads_them(tmp_path: Path) -> None:
    state = tmp_path / "openclaw-state"
    env = {"OPENCLAW_STATE_DIR": str(state)}
    codex = tcfs(tmp_path, "instructions", "codex", "--mount", "/mnt/a").stdout
    assert "timeout 8 cat /mnt/a/steps/<id>/wait" in codex  # its shell tool yields at 10 s
    gemini = tcfs(tmp_path, "instructions", "gemini", "--mount", "/mnt/a").stdout
    assert "| tee /mnt/a/steps/<id>/claim" in gemini and "timeout 8" not in gemini
    assert "timeout 100" in tcfs(tmp_path, "instructions", "claude-code").stdout

    # OpenClaw reads AGENTS.md from its workspace: --install puts the text there
    out = tcfs(tmp_path, "instructions", "openclaw", "--mount", "/mnt/a", "--install", env=env)
    workspace = state / "workspace" / "AGENTS.md"
    assert out.returncode == 0 and str(workspace) in out.stdout, out.stderr
    assert "timeout 8 cat /mnt/a/steps" in workspace.read_text()
    assert not (tmp_path / "AGENTS.md").exists()
    again = tcfs(tmp_path, "instructions", "openclaw", "--mount", "/mnt/a", "--install", env=env)
    assert "already in" in again.stdout

    # in a project file of the user's own, the block comes and goes, the rest stays
    mine = tmp_path / "CLAUDE.md"
    mine.write_text("# My project\n\nUse tabs.\n")
    before = mine.read_bytes()
    assert tcfs(tmp_path, "instructions", "claude-code", "--install").returncode == 0
    text = mine.read_text()
    assert text.startswith("# My project") and "<!-- >>> tcfs (instructions)" in text
    assert "\n# >>>" not in text  # no marker a Markdown reader takes for a heading
    assert tcfs(tmp_path, "instructions", "claude-code", "--uninstall").returncode == 0
    assert mine.read_bytes() == before
