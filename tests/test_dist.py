"""The sdist and the wheel: ``twine check`` passes, the wheel installs one
top-level package (``tcfs``) with its data files and the ``hf`` extra, and the
installed ``tcfs`` mounts from a directory that holds a ``tcfs/`` folder.

``make dist`` builds into ``dist/`` and runs this file on it (``TCFS_DIST``);
without that, the build happens here, once for the module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import pytest

from tests.support.machine import REPO
from tests.support.mounts import detach, sh

pytestmark = pytest.mark.slow

NOT_SOURCE = (".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")
# the environment less PYTHONPATH, which may name the source tree
WITHOUT_TREE = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def run(argv: list[str], timeout: float = 300, **kw: object) -> str:
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw
    )  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{argv[:4]} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    return str(proc.stdout)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("TCFS_DIST")
    if given:
        return Path(given)
    # from a copy: building writes tcfs.egg-info into the tree it builds
    src = tmp_path_factory.mktemp("src") / "tcfs"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(src)], timeout=600)
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    wheels = list(dist.glob("tcfs-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_twine_check_passes(dist: Path, wheel: Path) -> None:
    sdists = list(dist.glob("tcfs-*.tar.gz"))
    assert len(sdists) == 1, sdists
    out = run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdists[0])])
    assert out.count("PASSED") == 2, out


def test_the_wheel_holds_one_package_with_its_data_and_extras(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(f"{info}/METADATA").decode())
        top_level = z.read(f"{info}/top_level.txt").decode().split()
        entry_points = z.read(f"{info}/entry_points.txt").decode()
    assert {n.split("/")[0] for n in names} == {"tcfs", info}
    assert top_level == ["tcfs"]
    for needed in (
        "tcfs/mirror/runner.py",
        "tcfs/mirror/adapters/claude_code.py",
        "tcfs/hooks/opencode_plugin.js",
        "tcfs/replay/static/",
    ):
        assert any(n.startswith(needed) for n in names), needed
    assert "hf" in meta.get_all("Provides-Extra", [])
    requires = meta.get_all("Requires-Dist", [])
    assert any(r.startswith("huggingface_hub") and 'extra == "hf"' in r for r in requires)
    assert "tcfs = tcfs.cli:main" in entry_points


@pytest.fixture
def installed(wheel: Path, tmp_path: Path) -> Iterator[Path]:
    """A fresh virtualenv holding the wheel; its dependencies come from the test
    environment's site-packages (a ``.pth`` line, added once the wheel is in),
    so nothing is downloaded and no ``tcfs`` but the wheel's can be imported."""
    venv = tmp_path / "venv"
    python = str(venv / "bin" / "python")
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
         "-q", str(wheel)],
        env=WITHOUT_TREE,
    )  # fmt: skip
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib.strip()) / "test-dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    yield venv / "bin" / "tcfs"


@pytest.mark.mount
def test_the_installed_wheel_mounts_beside_a_tcfs_folder(
    installed: Path, tmp_path: Path, tcfs_home: Path
) -> None:
    parent = tmp_path / "parent"
    (parent / "tcfs").mkdir(parents=True)
    (parent / "tcfs" / "__init__.py").write_text("raise ImportError('the folder, not tcfs')\n")
    env = WITHOUT_TREE
    where = run(
        [str(installed.parent / "python"), "-c", "import tcfs; print(tcfs.__file__)"],
        cwd="/",
        env=env,
    )
    assert where.startswith(str(installed.parent.parent)), where  # the wheel's, not the tree's
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        r = sh(
            f"{installed} mount {mnt} --bucket {tmp_path / 'bucket'} --project p --agent a",
            timeout=60,
            cwd=parent,
            env=env,
        )
        assert r.returncode == 0, r.stderr
        assert (
            sh(
                f"echo hi > {mnt / 'memory/notes/greeting'} && cat {mnt / 'memory/notes/greeting'}"
            ).stdout
            == "hi\n"
        )
        assert (mnt / "README").stat().st_size > 0  # the package's own data, from the wheel
        assert sh(f"{installed} umount {mnt}", cwd=parent, env=env).returncode == 0
    finally:
        detach(mnt, None)
