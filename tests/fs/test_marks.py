"""Every test that mounts for real carries the ``mount`` mark, so ``-m "not
mount"`` and the no-FUSE skip reach it (a ``pytestmark`` in a conftest does not)."""

from __future__ import annotations

import ast
from pathlib import Path

HERE = Path(__file__).parent


def _uses_mount(tree: ast.Module) -> bool:
    return any(
        (
            isinstance(node, ast.FunctionDef)
            and node.name.startswith("test")
            and any(a.arg == "mount" for a in node.args.args)
        )
        or (
            isinstance(node, ast.Constant) and node.value == "mount"
        )  # `tcfs mount` driven as a command
        for node in ast.walk(tree)
    )


def _marks_mount(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            return "pytest.mark.mount" in ast.unparse(node.value)
    return False


def test_real_mount_modules_are_marked() -> None:
    unmarked = [
        p.name
        for p in sorted(HERE.glob("test_*.py"))
        if p.name != Path(__file__).name
        and _uses_mount(tree := ast.parse(p.read_text()))
        and not _marks_mount(tree)
    ]
    assert unmarked == []
