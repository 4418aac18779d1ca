"""``tcfs hooks install openclaw``: a plugin directory of tcfs's in OpenClaw's
state directory (its ``index.js`` a plugin file tcfs owns whole, with the
commands) and one entry in its ``openclaw.json``; the user's
config and plugins stay byte for byte as they were, and a config tcfs cannot
edit is refused and left alone."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.hook_installs import refused, tcfs

FOREIGN = """{
  // not here: this file is plain JSON
  "agents": {"defaults": {"model": {"primary": "fake/fake-model"}}},
  "plugins": {
    "allow": ["voice-call"],
    "load": {"paths": ["~/src/voice-call"]},
    "entries": {
      "voice-call": {"enabled": true, "config": {"provider": "tw\\u00efl"}}
    }
  },
  "gateway": {"port": 18789, "ratio": 1.50}
}
""".replace("  // not here: this file is plain JSON\n", "")


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def state() -> Path:
    path = Path(os.environ["OPENCLAW_STATE_DIR"])  # the test's own, from conftest
    other = path / "extensions" / "voice-call"
    other.mkdir(parents=True)
    (other / "openclaw.plugin.json").write_text('{"id": "voice-call", "configSchema": {}}\n')
    (other / "index.js").write_text("export default { id: 'voice-call', register() {} };\n")
    pack = path / "hooks" / "session-memory"  # an internal hook pack of the user's
    pack.mkdir(parents=True)
    (pack / "HOOK.md").write_text("---\nname: session-memory\nevents: [command:new]\n---\n")
    (pack / "handler.ts").write_text("export default async () => {};\n")
    (path / "openclaw.json").write_text(FOREIGN)
    return path


def test_install_reinstall_uninstall_keep_foreign_bytes(tmp_path: Path, state: Path) -> None:
    config = state / "openclaw.json"
    before = _files(state)

    out = tcfs(tmp_path, "hooks", "install", "openclaw", "--mount", "/mnt/a")
    assert out.returncode == 0, out.stderr
    assert (
        "installed" in out.stdout and str(state / "extensions" / "tcfs" / "index.js") in out.stdout
    )
    assert "plugins.entries.tcfs in its openclaw.json" in out.stdout
    doc = json.loads(config.read_text())
    assert doc["plugins"]["entries"]["tcfs"] == {
        "enabled": True,
        "hooks": {"allowConversationAccess": True},
    }
    assert doc["plugins"]["allow"] == ["voice-call", "tcfs"]  # the user's allowlist lets it load
    plugin = state / "extensions" / "tcfs"
    assert sorted(p.name for p in plugin.iterdir()) == [
        "index.js",
        "openclaw.plugin.json",
        "package.json",
    ]
    assert json.loads((plugin / "openclaw.plugin.json").read_text())["id"] == "tcfs"
    code = (plugin / "index.js").read_text()
    assert code.startswith("// tcfs hooks install openclaw --mount /mnt/a wrote this file")
    for event in ("session-start", "prompt", "stop"):
        assert f'"{event}": "' in code and f"openclaw {event} --mount /mnt/a" in code
    after_install = _files(state)
    for name, body in before.items():  # the other plugin, byte for byte
        if name != "openclaw.json":
            assert after_install[name] == body

    again = tcfs(tmp_path, "hooks", "install", "openclaw", "--mount", "/mnt/a")
    assert again.returncode == 0 and "already installed" in again.stdout
    assert _files(state) == after_install
    status = tcfs(tmp_path, "hooks", "status").stdout
    assert "openclaw (user): before_prompt_build (first), before_prompt_build, " in status
    assert "before_agent_finalize -> /mnt/a" in status

    moved = tcfs(tmp_path, "hooks", "install", "openclaw", "--mount", "/mnt/b")
    assert moved.returncode == 0, moved.stderr
    assert "--mount /mnt/b" in (plugin / "index.js").read_text()
    assert "/mnt/a" not in (plugin / "index.js").read_text()

    out = tcfs(tmp_path, "hooks", "uninstall", "openclaw")
    assert out.returncode == 0 and "removed" in out.stdout, out
    assert _files(state) == before  # config and the other plugin as they were; ours is gone
    assert not plugin.exists()

    # a plugin named tcfs that tcfs did not write is the user's: refused, untouched
    plugin.mkdir()
    (plugin / "index.js").write_text("export default {};\n")
    out = tcfs(tmp_path, "hooks", "install", "openclaw", "--mount", "/mnt/a")
    assert out.returncode == 1 and "is not tcfs's" in out.stderr, out
    assert (plugin / "index.js").read_text() == "export default {};\n"
    assert sorted(p.name for p in plugin.iterdir()) == ["index.js"]
    (plugin / "openclaw.plugin.json").write_text("{}\n")
    assert tcfs(tmp_path, "hooks", "uninstall", "openclaw").returncode == 0
    assert sorted(p.name for p in plugin.iterdir()) == ["index.js", "openclaw.plugin.json"]
    (plugin / "openclaw.plugin.json").unlink()
    (plugin / "index.js").unlink()
    plugin.rmdir()
    assert "none in" in tcfs(tmp_path, "hooks", "uninstall", "openclaw").stdout
    assert "openclaw (user): not installed" in tcfs(tmp_path, "hooks", "status").stdout


def test_a_fresh_state_directory(tmp_path: Path) -> None:
    state = Path(os.environ["OPENCLAW_STATE_DIR"])
    assert tcfs(tmp_path, "hooks", "install", "openclaw", "--mount", "/mnt/a").returncode == 0
    assert json.loads((state / "openclaw.json").read_text()) == {
        "plugins": {
            "entries": {"tcfs": {"enabled": True, "hooks": {"allowConversationAccess": True}}}
        }
    }
    assert (state / "openclaw.json").stat().st_mode & 0o777 == 0o600
    assert tcfs(tmp_path, "hooks", "uninstall", "openclaw").returncode == 0
    assert not state.exists()  # what the install created, uninstall removed


@pytest.mark.parametrize(
    "text",
    [
        '{\n  // JSON5: OpenClaw reads it, tcfs does not edit it\n  "gateway": {"port": 1},\n}\n',
        '{"plugins": ["not", "an", "object"]}\n',
        '{"plugins": {"entries": []}}\n',
        '{"plugins": {"allow": "tcfs"}}\n',
    ],
)
def test_a_config_tcfs_cannot_edit_is_refused_and_left_as_it_was(tmp_path: Path, text: str) -> None:
    state = Path(os.environ["OPENCLAW_STATE_DIR"])
    state.mkdir()
    config = state / "openclaw.json"
    config.write_text(text)
    refused(tmp_path, "openclaw", config, text)
    assert not (state / "extensions" / "tcfs").exists()  # no half a plugin
    assert [p.name for p in state.iterdir() if p.is_file()] == ["openclaw.json"]  # no temp


@pytest.mark.harness
def test_the_plugin_runs_the_hook_and_bounds_it(tmp_path: Path) -> None:
    """The plugin's own code, in OpenClaw's Node, with a stand-in for OpenClaw's
    ``api``: the hook's answer becomes ``prependContext`` / a revision, and a
    hook that hangs is killed after 2 s and the turn goes on."""
    from tcfs.hooks import openclaw
    from tests.support.harnesses.install import install

    node = next(d / "node" for d in install("openclaw").bin_dirs if (d / "node").exists())
    state = Path(os.environ["OPENCLAW_STATE_DIR"])
    assert tcfs(tmp_path, "hooks", "install", "openclaw", "--mount", "/mnt/a").returncode == 0
    plugin = state / "extensions" / "tcfs"
    answers = tmp_path / "answers"
    answers.mkdir()
    (answers / "prompt.sh").write_text(
        'cat >/dev/null; echo \'{"hookSpecificOutput": {"additionalContext": "MAIL ONE"}}\'\n'
    )
    # as tcfs's hook does: no continuation when told one was just made
    (answers / "stop.sh").write_text(
        'cat > "$0.in"; grep -Eq \'"stop_hook_active": *true\' "$0.in" && echo "{}" && exit\n'
        'echo \'{"decision": "block", "reason": "MAIL TWO"}\'\n'
    )
    (answers / "hang.sh").write_text("sleep 30\n")
    (plugin / "index.js").write_text(
        openclaw.HARNESS.plugin(  # type: ignore[misc]
            {
                "session-start": f"sh {answers / 'hang.sh'}",
                "prompt": f"sh {answers / 'prompt.sh'}",
                "stop": f"sh {answers / 'stop.sh'}",
            }
        )
    )
    driver = tmp_path / "driver.mjs"
    driver.write_text(
        f"""
import plugin from {json.dumps(str(plugin / "index.js"))};
const hooks = {{}};
plugin.register({{ logger: {{ warn: (m) => console.error(m) }}, on: (n, f) => (hooks[n] = f) }});
const said = [{{ role: "user", content: "hi" }}, {{ role: "assistant", content: "ok" }}];
const out = {{}};
let t = Date.now();
out.first = await hooks.before_prompt_build({{ messages: [] }}, {{}});
out.firstMs = Date.now() - t;
out.later = await hooks.before_prompt_build({{ messages: said }}, {{}});
out.stop = await hooks.before_agent_finalize({{ messages: said }}, {{ runId: "r1" }});
out.again = await hooks.before_agent_finalize({{ messages: said }}, {{ runId: "r1" }});
const tool = [...said.slice(0, 1), {{ role: "assistant", content: [{{ type: "toolCall" }}] }},
  {{ role: "toolResult", content: "done" }}, {{ role: "assistant", content: "ok" }}];
out.afterTool = await hooks.before_agent_finalize({{ messages: tool }}, {{ runId: "r2" }});
const child = {{ sessionKey: "agent:main:subagent:helper", runId: "r3" }};
out.child = [await hooks.before_prompt_build({{ messages: said }}, child),
  await hooks.before_agent_finalize({{ messages: said }}, child)];
console.log(JSON.stringify(out));
"""
    )
    proc = subprocess.run(
        [str(node), str(driver)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out.get("first") is None and 1900 <= out["firstMs"] < 5000  # killed at 2 s
    assert "gave no answer within 2000 ms" in proc.stderr
    assert out["later"] == {"prependContext": "MAIL ONE"}
    assert out["stop"] == {"action": "revise", "reason": "MAIL TWO"}
    assert out.get("again") is None  # told it already continued once: no more
    assert out.get("afterTool") is None  # OpenClaw would not revise after a tool: not asked
    assert json.loads((answers / "stop.sh.in").read_text())["stop_hook_active"] is True
    assert out["child"] == [None, None]  # a subagent's runs: its parent gets the mail
