"""The layers import only what is below them: the mount and the hooks import
nothing of each other (what both need, such as the mail's frame, lives below
both), and the config, which every hook call loads, imports no layer at all."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tcfs"
LAYERS = ("protocol", "store", "fs", "hooks", "mirror", "replay", "commands")


def imported(path: Path) -> set[str]:
    """Every tcfs module a file imports, at its top, in a function or for type checks."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "tcfs" or name.startswith("tcfs.")}


def reaches(names: set[str], layer: str) -> list[str]:
    return sorted(n for n in names if n == f"tcfs.{layer}" or n.startswith(f"tcfs.{layer}."))


def test_the_scan_sees_imports_of_every_form(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import tcfs.hooks.run\nfrom tcfs import hooks\n"
        "def f():\n    from tcfs.hooks.mount import Inbox\n"
    )
    assert reaches(imported(probe), "hooks") == [
        "tcfs.hooks",
        "tcfs.hooks.mount",
        "tcfs.hooks.mount.Inbox",
        "tcfs.hooks.run",
    ]


@pytest.mark.parametrize(
    ("package", "other"), [("fs", "hooks"), ("hooks", "fs")], ids=["fs", "hooks"]
)
def test_the_mount_and_the_hooks_import_nothing_of_each_other(package: str, other: str) -> None:
    wrong = {
        str(path.relative_to(PACKAGE)): reaches(imported(path), other)
        for path in (PACKAGE / package).rglob("*.py")
    }
    assert {path: names for path, names in wrong.items() if names} == {}


def test_the_config_imports_no_layer() -> None:
    names = imported(PACKAGE / "config.py")
    assert {layer: reaches(names, layer) for layer in LAYERS if reaches(names, layer)} == {}
