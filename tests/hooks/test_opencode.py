"""OpenCode through tcfs's plugin, with the real ``opencode run`` (pinned in
``tests/support/harnesses/install.py``) against the fake model on loopback: a turn
continues with mail at most once per prompt, a broken mount costs a turn only
the plugin's bound, and install / uninstall leave the user's own plugin and
``opencode.json`` byte for byte.  The next-turn checks every harness shares
are in ``test_real_harnesses.py``."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hooks.runs import RUNS
from tests.support.fakemodel import FakeModel, Script, ToolCall
from tests.support.harnesses.install import install
from tests.support.hook_installs import tcfs
from tests.support.loopback_proxy import LoopbackProxy, Request
from tests.support.mounts import Mount, sh
from tests.support.s3server import MotoServer

HOOK_BOUND_S = 2.0  # the plugin kills a hook call after this
RUN = RUNS["opencode"]


class OpenCode:
    """One project and home for the real OpenCode, against ``model``."""

    def __init__(self, model: FakeModel, tmp_path: Path, tcfs_home: Path) -> None:
        self.model = model
        self.project, self.home = tmp_path / "project", tmp_path / "home"
        self.project.mkdir()
        self.home.mkdir()
        self.program = install("opencode")
        base = {"PATH": os.environ["PATH"], "HOME": str(self.home), "TCFS_HOME": str(tcfs_home)}
        self.env = self.program.env({**base, **RUN.env(model, self.home, self.project)})

    def hooks(self, *args: str) -> subprocess.CompletedProcess[str]:
        return tcfs(self.project, "hooks", *args, env=self.env)

    def turn(self, prompt: str) -> tuple[float, list[dict[str, object]]]:
        """One ``opencode run``: its seconds and the model requests it made."""
        seen = len(self.model.answered(RUN.api))
        start = time.monotonic()
        proc = subprocess.run(
            [*self.program.argv, *RUN.argv(prompt)],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )
        seconds = time.monotonic() - start
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return seconds, [r.body or {} for r in self.model.answered(RUN.api)[seen:]]


def user_texts(body: dict[str, object]) -> list[str]:
    """The texts of a Chat Completions request's user messages."""
    out = []
    for m in body.get("messages") or []:  # type: ignore[attr-defined]
        if m.get("role") == "user":
            c = m.get("content")
            out.append(c if isinstance(c, str) else json.dumps(c))
    return out


def delivered(bodies: list[dict[str, object]], text: str) -> bool:
    """Whether a hook put ``text`` before the model (not the tool call that sent it)."""
    return any("from alice (direct" in t and text in t for b in bodies for t in user_texts(b))


@pytest.mark.mount
@pytest.mark.harness
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_a_turn_goes_on_with_mail_once_per_prompt(  # type: ignore[no-untyped-def]
    tmp_path: Path, mount, tcfs_home: Path
) -> None:
    alice, bob = mount("alice"), mount("bob", wait_timeout=2)
    send = "echo '{}' > " + str(alice.path / "outbox" / "bob")
    script = (
        Script()
        .on("GO-ON", ToolCall(("bash",), {"command": send.format("MAIL-A first")}), times=1)
        # the continuation brings MAIL-A; acting on it, the agent is sent MAIL-B
        .on("MAIL-A first", ToolCall(("bash",), {"command": send.format("MAIL-B second")}), times=1)
    )
    with FakeModel(script) as model:
        oc = OpenCode(model, tmp_path, tcfs_home)
        assert oc.hooks("install", "opencode", "--mount", str(bob.path)).returncode == 0
        _, bodies = oc.turn("GO-ON")
        assert delivered(bodies, "MAIL-A first")  # the turn went on with it
        # once per prompt: MAIL-B arrived during the continuation and waits
        assert not delivered(bodies, "MAIL-B second")
        unread = json.loads(sh(f"cat {bob.path}/inbox/unread").stdout)["unread"]
        assert [m["text"].strip() for m in unread] == ["MAIL-B second"]
        _, bodies = oc.turn("NEXT")
        assert delivered(bodies, "MAIL-B second") and not delivered(bodies, "MAIL-A first")
    assert json.loads(sh(f"cat {bob.path}/inbox/unread").stdout)["unread"] == []


@pytest.fixture
def gated(moto_server: MotoServer, mount) -> Iterator[tuple[Mount, dict[str, bool]]]:  # type: ignore[no-untyped-def]
    """Bob's mount through a proxy that answers 503 to everything while ``down``."""
    state = {"down": False}

    def gate(req: Request) -> str | tuple[int, bytes]:
        if state["down"]:
            return (503, b"<Error><Code>ServiceUnavailable</Code></Error>")
        return "forward"

    proxy = LoopbackProxy(moto_server.port, gate)
    try:
        yield mount("bob", extra=["--endpoint", f"http://127.0.0.1:{proxy.port}"]), state
    finally:
        proxy.close()


@pytest.mark.mount
@pytest.mark.harness
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_a_broken_mount_costs_an_opencode_turn_only_the_bound(
    tmp_path: Path, gated: tuple[Mount, dict[str, bool]], tcfs_home: Path
) -> None:
    bob, state = gated
    with FakeModel(Script()) as model:
        oc = OpenCode(model, tmp_path, tcfs_home)
        assert oc.hooks("install", "opencode", "--mount", str(bob.path)).returncode == 0
        oc.turn("WARM-UP")  # OpenCode's first start in a project installs its plugin SDK
        healthy, bodies = oc.turn("HEALTHY")
        assert any("No unread messages." in t for b in bodies for t in user_texts(b))

        def broken(words: str) -> float:
            seconds, bodies = oc.turn("BROKEN")
            notices = [t for b in bodies for t in user_texts(b) if "tcfs: " in t]
            assert notices and words in notices[0], [user_texts(b) for b in bodies]
            # two hook calls a turn (its prompt, its text's end), each bounded
            assert seconds < healthy + 2 * HOOK_BOUND_S + 30, (seconds, healthy)
            return seconds

        pid = bob.proc.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            stopped = broken("did not answer within")
        finally:
            os.kill(pid, signal.SIGCONT)
        state["down"] = True
        try:
            down = broken("tcfs: ")
        finally:
            state["down"] = False
        assert oc.hooks("install", "opencode", "--mount", str(tmp_path / "gone")).returncode == 0
        unmounted = broken("is not mounted")
    print(
        f"opencode turn: healthy {healthy:.1f}s, daemon stopped {stopped:.1f}s, "
        f"bucket down {down:.1f}s, not mounted {unmounted:.1f}s"
    )


@pytest.mark.slow
def test_a_hook_that_hangs_is_killed_and_the_turn_goes_on(tmp_path: Path, tcfs_home: Path) -> None:
    """The plugin's own bound, behind the hook's: a command that never answers
    is killed after 2 s, the user is told in OpenCode's log, the turn ends."""
    from tcfs.hooks import opencode, pluginfile

    started = tmp_path / "started"
    with FakeModel(Script()) as model:
        oc = OpenCode(model, tmp_path, tcfs_home)
        hung = {e: f"echo {e} >> {started}; exec sleep 100" for e in opencode.EVENTS}
        assert oc.hooks("install", "opencode", "--mount", "/mnt/hung").returncode == 0
        oc.turn("WARM-UP")  # OpenCode's first start in a project installs its plugin SDK
        path = oc.project / str(opencode.HARNESS.project_file)
        assert pluginfile.install(path, "opencode", "/mnt/hung", opencode.plugin(hung))
        seconds, bodies = oc.turn("HANGS")
        assert bodies and seconds < 100  # unbounded, the two calls would take 200 s
    assert started.read_text().split() == ["session-start", "stop"]
    assert not sh("pgrep -f 'exec sleep 100|^sleep 100'").stdout.strip()  # killed, not left
    logs = "".join(p.read_text() for p in (oc.home / ".local/share/opencode/log").glob("*.log"))
    assert "tcfs: the session-start hook did not answer within 2 s" in logs, logs[-3000:]
    print(f"opencode turn with hung hooks: {seconds:.1f}s")


FOREIGN_PLUGIN = """// the user's own plugin
export const Notify = async ({ client }) => ({
  event: async ({ event }) => { if (event.type === "session.idle") console.log("done") },
})
"""
FOREIGN_CONFIG = """{
  "$schema": "https://opencode.ai/config.json",
  "plugin": ["opencode-wakatime"],
  "model": "anthropic/claude-sonnet-4-5"\t
}
"""


def test_install_beside_a_foreign_plugin_and_config_keeps_their_bytes(tmp_path: Path) -> None:
    oc = tmp_path / ".opencode"
    (oc / "plugins").mkdir(parents=True)
    mine, config = oc / "plugins" / "notify.js", tmp_path / "opencode.json"
    mine.write_text(FOREIGN_PLUGIN)
    config.write_text(FOREIGN_CONFIG)
    (oc / "opencode.jsonc").write_text("// the user's\n{}\n")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    ours = oc / "plugins" / "tcfs.js"

    out = tcfs(tmp_path, "hooks", "install", "opencode", "--mount", "/mnt/a")
    assert out.returncode == 0, out.stderr
    assert "installed OpenCode hooks" in out.stdout and str(ours) in out.stdout
    text = ours.read_text()
    assert text.startswith("// tcfs hooks install opencode --mount /mnt/a wrote this file")
    assert "__TCFS_COMMANDS__" not in text and '"chat.message"' in text
    commands = json.loads(text.split("const COMMANDS = ", 1)[1].split("\nconst ", 1)[0])
    assert sorted(commands) == ["edit", "prompt", "session-start", "stop"]
    assert all(c.endswith("opencode " + e + " --mount /mnt/a") for e, c in commands.items())
    # the user's files stay; opencode.json only gains the mount's external-directory grant
    assert {p: p.read_bytes() for p in before if p != config} == {
        p: b for p, b in before.items() if p != config
    }
    granted = json.loads(config.read_text())
    assert granted.pop("permission") == {
        "external_directory": {"/mnt/a": "allow", "/mnt/a/**": "allow"}
    }
    assert granted == json.loads(FOREIGN_CONFIG)

    written = ours.read_bytes()
    again = tcfs(tmp_path, "hooks", "install", "opencode", "--mount", "/mnt/a")
    assert "already installed" in again.stdout and ours.read_bytes() == written
    status = tcfs(tmp_path, "hooks", "status").stdout
    assert "opencode (project): chat.message (a session's first), chat.message, " in status
    assert f"experimental.text.complete -> /mnt/a  [{ours}]" in status

    out = tcfs(tmp_path, "hooks", "uninstall", "opencode")
    assert out.returncode == 0 and "removed" in out.stdout and not ours.exists()
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert "opencode (project): not installed" in tcfs(tmp_path, "hooks", "status").stdout

    # a file of the user's own by tcfs's name is refused, and stays
    ours.write_text(FOREIGN_PLUGIN)
    out = tcfs(tmp_path, "hooks", "install", "opencode", "--mount", "/mnt/a")
    assert out.returncode == 1 and str(ours) in out.stderr and "not tcfs's" in out.stderr
    assert "none in" in tcfs(tmp_path, "hooks", "uninstall", "opencode").stdout
    assert ours.read_text() == FOREIGN_PLUGIN
    assert "not tcfs's" in tcfs(tmp_path, "hooks", "status").stdout


def test_the_user_scope_is_opencodes_global_plugin_directory(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    out = tcfs(tmp_path, "hooks", "install", "opencode", "--mount", "/mnt/u", "--user", env=env)
    assert out.returncode == 0, out.stderr
    path = tmp_path / "xdg" / "opencode" / "plugins" / "tcfs.js"
    assert path.is_file() and not (tmp_path / ".opencode").exists()
    assert "opencode (user): chat.message" in tcfs(tmp_path, "hooks", "status", env=env).stdout
    assert tcfs(tmp_path, "hooks", "uninstall", "opencode", "--user", env=env).returncode == 0
    assert not path.exists()


def _answer(proc: subprocess.Popen[bytes], timeout: float = 10) -> dict[str, object]:
    assert proc.stdout is not None
    assert select.select([proc.stdout], [], [], timeout)[0], "the hook did not answer"
    doc = json.loads(proc.stdout.readline())
    assert isinstance(doc, dict)
    return doc


@pytest.mark.mount
@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_the_hook_marks_read_only_what_the_plugin_says_it_put_in(mount) -> None:  # type: ignore[no-untyped-def]
    """The plugin's side of a hook call, as the plugin makes it: the event as
    one line, the answer back, then ``delivered`` once it is in the turn."""
    alice, bob = mount("alice"), mount("bob", wait_timeout=2)
    assert sh(f"echo 'MAIL-C check' > {alice.path}/outbox/bob").returncode == 0

    def unread() -> int:
        return len(json.loads(sh(f"cat {bob.path}/inbox/unread").stdout)["unread"])

    # nothing put in (an empty line, another word, no word before the deadline)
    for reply in (b"\n", b"put\n", None):
        for event, key in (("prompt", "context"), ("stop", "continue")):
            start = time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, "-m", "tcfs.hooks", "opencode", event, "--mount", str(bob.path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            assert proc.stdin is not None
            try:
                proc.stdin.write(json.dumps({"hook_event_name": event}).encode() + b"\n")
                proc.stdin.flush()
                assert "MAIL-C check" in str(_answer(proc)[key])
                if reply is not None:
                    proc.stdin.write(reply)
                    proc.stdin.close()
                assert proc.wait(timeout=10) == 0
            finally:
                proc.kill()
            assert time.monotonic() - start < HOOK_BOUND_S + 1
            assert unread() == 1, (reply, event)

    proc = subprocess.Popen(
        [sys.executable, "-m", "tcfs.hooks", "opencode", "prompt", "--mount", str(bob.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(b'{"hook_event_name": "prompt"}\n')
    proc.stdin.flush()
    assert "MAIL-C check" in str(_answer(proc)["context"])
    proc.stdin.write(b"delivered\n")
    proc.stdin.close()
    assert proc.wait(timeout=10) == 0
    assert unread() == 0
    assert sh(f"cat {bob.path}/inbox/next", timeout=20).returncode != 0  # the cursor moved
