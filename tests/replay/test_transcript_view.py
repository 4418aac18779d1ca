"""The transcript pane in a real headless Chromium: sessions the six real
harness programs wrote (``tests/mirror/real/``), mirrored by the real
``tcfs mirror`` and built into a page by the real ``tcfs replay``, shown as a
conversation with tool calls folded and each raw line a click away."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.replay.scenario import replay_page, run_tcfs
from tests.support.harnesses.fixtures import HARNESSES, install_fixture
from tests.support.mirroring import HARNESS_ENV

# Every element of the pane inside the pane, and nothing scrolled sideways.
NOTHING_WIDER = """() => {
  const box = document.getElementById('transcript'), right = box.getBoundingClientRect().right;
  const wide = [...box.querySelectorAll('*')].filter(
    (e) => e.getBoundingClientRect().right > right + 1 || e.scrollWidth > e.clientWidth + 1);
  return [box.scrollWidth - box.clientWidth, wide.map((e) => e.className)];
}"""


def mirrored_page(tmp_path: Path) -> Path:
    """Every harness's fixture mirrored (as agent = harness) into one bucket."""
    env = {k: v for k, v in os.environ.items() if k not in HARNESS_ENV}
    backend = ["--backend", "local", "--bucket", str(tmp_path / "bucket")]
    for name in HARNESSES:
        home, project = install_fixture(name, tmp_path / name)
        run_tcfs(
            *("mirror", "--once", "--harness", name, "--cwd", str(project)),
            *("--project", "proj", "--agent", name, *backend),
            env={**env, "HOME": str(home)},
        )
    return replay_page(tmp_path / "r.html", backend, env=env)


def open_main_session(page: Any, harness: str) -> None:
    value = page.evaluate(
        """h => [...document.querySelectorAll('#t-session option')]
             .find(o => o.textContent.startsWith(h + ' · ')).value""",
        harness,
    )
    page.select_option("#t-session", value)
    page.wait_for_selector("#transcript .role-assistant")


def test_each_harness_reads_as_a_conversation(viewer, tmp_path: Path, tcfs_home) -> None:
    v = viewer(mirrored_page(tmp_path).as_uri())
    page = v.page
    box = page.locator("#transcript")
    for name in HARNESSES:
        open_main_session(page, name)
        users = box.locator(".role-user").all_inner_texts()
        assert any("TURN-TWO: print the long listing." in t for t in users), (name, users)
        assert any("TURN-TWO-DONE" in t for t in box.locator(".role-assistant").all_inner_texts())
        # a tool call is folded: its name shows, its input only when opened
        call = box.locator(".role-tool_call", has_text="STEP-SHELL-42").first
        assert call.locator(".tool").inner_text()
        fold = call.locator("details")
        assert fold.get_attribute("open") is None and not call.locator(".text").is_visible()
        call.locator("summary").click()
        assert fold.get_attribute("open") is not None
        assert "echo STEP-SHELL-42" in call.locator(".text").inner_text()
        # the long tool output wraps inside the pane once opened
        long = box.locator(".role-tool_result", has_text="LONG-OUTPUT-LINE").first
        long.locator("summary").click()
        assert "LONG-OUTPUT-LINE" in long.locator(".text").inner_text()
        # the raw line is one click away, and it is the bucket's line
        user = box.locator(".role-user", has_text="TURN-TWO").first
        assert user.locator(".raw").count() == 0
        user.locator(".raw-btn").click()
        raw = user.locator(".raw").inner_text()
        assert "TURN-TWO" in raw and isinstance(json.loads(raw), dict), (name, raw[:200])
        assert page.evaluate(NOTHING_WIDER) == [0, []], name
        if name == "claude-code":
            long.scroll_into_view_if_needed()
            page.screenshot(path=str(tmp_path / "transcript.png"))


def test_bookkeeping_lines_fold_into_one_row(viewer, tmp_path: Path, tcfs_home) -> None:
    v = viewer(mirrored_page(tmp_path).as_uri())
    open_main_session(v.page, "claude-code")
    run = v.page.locator("#transcript .run").first
    assert "other lines: attachment" in run.inner_text()
    before = v.page.locator("#transcript .msg").count()
    run.click()
    v.page.wait_for_function(
        "n => document.querySelectorAll('#transcript .msg').length > n", arg=before
    )
