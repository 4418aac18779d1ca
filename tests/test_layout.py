"""The test tree's layout holds: shared helpers live in ``tests/support``, so no
module imports another ``test_*.py`` module (pytest would collect its tests a
second time, and a helper would hide among tests) or another test package's
modules; and every test that mounts
for real carries the ``mount`` mark, and every test that installs a real harness
program the ``harness`` mark, so ``-m "not mount"`` and the skip on a machine
without FUSE or npm reach them (a ``pytestmark`` in a conftest does not)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from tests.support.machine import REPO

TESTS = REPO / "tests"


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text())) for p in sorted(TESTS.rglob("*.py"))]


def _imported(tree: ast.Module) -> list[str]:
    """The dotted names a module imports (``from a import b`` gives ``a.b`` too,
    since ``b`` may be a module)."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def test_no_module_imports_a_test_module() -> None:
    offending = [
        f"{p.relative_to(REPO)} imports {name}"
        for p, tree in _modules()
        for name in _imported(tree)
        if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")
    ]
    assert offending == [], "move the shared helper to tests/support"


def test_packages_share_helpers_only_through_support() -> None:
    """A test package imports its own modules and ``tests.support``, never
    another package's (nor the root conftest)."""
    offending = []
    for p, tree in _modules():
        parts = p.relative_to(TESTS).parts
        own = f"tests.{parts[0]}" if len(parts) > 1 else None
        offending += [
            f"{p.relative_to(REPO)} imports {name}"
            for name in _imported(tree)
            if name.startswith("tests.")
            and not name.startswith("tests.support")
            and not (own and (name == own or name.startswith(own + ".")))
        ]
    assert offending == [], "move the shared helper to tests/support"


def _starts_a_mount(tree: ast.Module) -> bool:
    """``tcfs mount`` run as a command: "mount" as one word of an argument list,
    with its arguments (a test asking for the ``mount`` fixture gets the mark
    from the conftest)."""
    return any(
        isinstance(node, (ast.List, ast.Tuple))
        and "mount" in (words := [e.value for e in node.elts if isinstance(e, ast.Constant)])
        and len(node.elts) > 1  # ("mount",) alone names the command, for its help
        and "--help" not in words
        for node in ast.walk(tree)
    )


def _installs_a_harness(tree: ast.Module) -> bool:
    """A real harness program installed (with npm, on a machine without the cache)."""
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == "tests.support.harnesses.install"
        and any(a.name == "install" for a in node.names)
        for node in ast.walk(tree)
    )


def _marks(tree: ast.Module, mark: str) -> bool:
    """A module-wide ``pytestmark`` or a test's decorator names ``mark``."""
    marks = [
        n.value
        for n in tree.body
        if isinstance(n, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in n.targets)
    ]
    marks += [
        d
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef) and n.name.startswith("test")
        for d in n.decorator_list
    ]
    return any(f"pytest.mark.{mark}" in ast.unparse(m) for m in marks)


def test_real_mount_modules_are_marked() -> None:
    unmarked = [
        str(p.relative_to(REPO))
        for p, tree in _modules()
        if p.name.startswith("test_")
        and p != Path(__file__)  # its argv names the mark
        and _starts_a_mount(tree)
        and not _marks(tree, "mount")
    ]
    assert unmarked == []


def test_real_harness_modules_are_marked() -> None:
    unmarked = [
        str(p.relative_to(REPO))
        for p, tree in _modules()
        if p.name.startswith("test_") and _installs_a_harness(tree) and not _marks(tree, "harness")
    ]
    assert unmarked == []


def test_mount_tests_skip_on_a_machine_without_fuse() -> None:
    """With FUSE gone (acted out by ``TCFS_TEST_NO_FUSE``), mount tests are
    skipped, both those marked by hand and those marked for the fixture."""
    marked_by_hand, marked_by_fixture = "tests/fs/test_cli.py", "tests/replay/test_mount_events.py"
    pytest = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-q", "-rs"]
    run = subprocess.run(
        [*pytest, "-m", "mount", marked_by_hand, marked_by_fixture],
        cwd=REPO,
        env={**os.environ, "TCFS_TEST_NO_FUSE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    summary = run.stdout.strip().splitlines()[-1]
    assert run.returncode == 0 and " skipped" in summary, run.stdout + run.stderr
    assert "passed" not in summary and "failed" not in summary and "error" not in summary, summary
    assert "TCFS_TEST_NO_FUSE is set" in run.stdout
