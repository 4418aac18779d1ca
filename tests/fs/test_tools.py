"""Ordinary tools on real mounts: in-place editors (``sed -i``, vim,
write-temp-then-``os.replace``), ``mv``, and ``cp -r``, ``tar x`` and
``rsync -a`` into artifacts, a tree whose names may be anything a key holds.
A tool's temporary name never becomes a key or an event."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tcfs.fs.scratch import LINGER_S
from tcfs.protocol import Project
from tcfs.protocol.events.reader import read_log
from tests.support.mounts import Backend, Mount, eventually, sh

pytestmark = [pytest.mark.mount, pytest.mark.slow]

#: the temporary names sed, Python's tempfile, vim and rsync use
TEMP_NAME = re.compile(r"sed[A-Za-z0-9]{6}|tmp[a-z0-9_]{8}|4913|\.sw[a-p]x?$|/\.[^/]+\.[^/.]{6}$")


def keys(backend: Backend) -> list[str]:
    return sorted(o.key for o in backend.store.list(""))


def events_after_unmount(m: Mount, backend: Backend) -> list[tuple[str, str | None]]:
    """The mount's events, written out by a clean unmount."""
    sh(f"fusermount3 -u {m.path}")
    assert eventually(lambda: m.proc.poll() is not None, timeout=30)
    evs, malformed = read_log(backend.store)
    assert malformed == []
    return [(e.kind, e.subject) for e in evs if e.kind not in ("agent-up", "agent-down")]


def ok(cmd: str, timeout: float = 60) -> str:
    r = sh(cmd, timeout=timeout)
    assert r.returncode == 0, f"{cmd}: {r.stderr}"
    return r.stdout


def test_in_place_edits_of_memory_values_are_one_set_each(mount, backend: Backend) -> None:
    m, bob = mount("alice"), mount("bob")
    design = m / "memory/design"
    ok(f"echo postgres > {design}/db")
    ok(f"sed -i s/post/mongo/ {design}/db")
    assert ok(f"cat {design}/db") == "mongogres\n"
    assert ok(f"cat {bob / 'memory/design/db'}") == "mongogres\n"
    # write-temp-then-rename, as Python's atomic writers do it: closed first,
    # or renamed while still open (after a flush)
    script = (
        "import os, sys, tempfile\n"
        "d = sys.argv[1]\n"
        "fd, tmp = tempfile.mkstemp(dir=d)\n"
        "os.write(fd, b'redis\\n'); os.close(fd)\n"
        "os.replace(tmp, os.path.join(d, 'cache'))\n"
        "with tempfile.NamedTemporaryFile('w', dir=d, suffix='.json', delete=False) as f:\n"
        "    f.write('{}'); f.flush(); os.replace(f.name, os.path.join(d, 'conf'))\n"
    )
    ok(f"python3 -c {shlex.quote(script)} {design}")
    assert ok(f"cat {bob / 'memory/design/cache'}") == "redis\n"
    assert ok(f"cat {bob / 'memory/design/conf'}") == "{}\n"
    if shutil.which("vim"):
        ok(f"vim -es -N -u NONE -c '%s/mongo/maria/' -c wq {design}/db")
        assert ok(f"cat {bob / 'memory/design/db'}") == "mariagres\n"
    ok(f"mv {design}/cache {design}/kv")
    assert ok(f"cat {bob / 'memory/design/kv'}") == "redis\n"
    assert sh(f"cat {bob / 'memory/design/cache'}").returncode != 0
    assert sorted(os.listdir(design)) == ["conf", "db", "kv"]

    history = Project(backend.store, "carol").memory.history("design.db")
    vim_value = ["mariagres"] if shutil.which("vim") else []
    assert [h["value"] for h in history] == ["postgres", "mongogres", *vim_value]
    assert [k for k in keys(backend) if TEMP_NAME.search(k)] == []
    vim_set = [("memory-set", "design.db")] if shutil.which("vim") else []
    assert events_after_unmount(m, backend) == [
        ("memory-set", "design.db"),
        ("memory-set", "design.db"),
        ("memory-set", "design.cache"),
        ("memory-set", "design.conf"),
        *vim_set,
        ("memory-set", "design.kv"),
        ("memory-delete", "design.cache"),
    ]


def test_scratch_files_stay_on_the_mount_until_renamed(mount, backend: Backend) -> None:
    m, bob = mount("alice"), mount("bob")
    design = m / "memory/design"
    before = keys(backend)
    ok(f"echo draft > {design}/.db.swp && cat {design}/.db.swp")
    assert ".db.swp" in os.listdir(design)  # this mount's own tools see it
    assert ".db.swp" not in os.listdir(bob / "memory/design")
    assert ok(f"cat {design}/.db.swp") == "draft\n"
    ok(f"rm {design}/.db.swp")
    assert sh(f"cat {design}/.db.swp").returncode != 0
    # left alone, a scratch file in memory/ stays here (an editor's backup)
    ok(f"echo v > {design}/db~ && sleep {LINGER_S + 1}")
    assert ok(f"cat {design}/db~") == "v\n"
    assert "db~" not in os.listdir(bob / "memory/design")
    ok(f"mv {design}/db~ {design}/db")
    assert ok(f"cat {bob / 'memory/design/db'}") == "v\n"
    added = [k for k in keys(backend) if k not in before and k.startswith("memory/")]
    assert len(added) == 2 and "memory/design/db.json" in added, added  # the value, its history
    assert [k for k in keys(backend) if "~" in k or "swp" in k] == []
    # names that are no memory key are refused, and nothing is written
    r = sh(f"echo x > '{design}/has.dot'")
    assert r.returncode != 0 and "Invalid argument" in r.stderr
    assert events_after_unmount(m, backend) == [("memory-set", "design.db")]


def make_tree(root: Path) -> Path:
    src = root / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "my report.txt").write_text("a report\n")
    (src / "résumé.pdf").write_bytes(os.urandom(3000))
    (src / ".hidden").write_text("dot file\n")
    (src / "__init__.py").write_text("")
    (src / "sub" / "notes #1.md").write_text("notes\n")
    (src / "sub" / "deeper" / ".env.sample").write_text("KEY=1\n")
    return src


def relative_files(root: Path) -> list[str]:
    out = ok(f"cd '{root}' && find . -type f | sort")
    return out.splitlines()


def test_cp_tar_rsync_into_artifacts(mount, backend: Backend, tmp_path: Path) -> None:
    m, bob = mount("alice"), mount("bob")
    src = make_tree(tmp_path)
    shared = m / "artifacts/shared"
    ok(f"cp -r {src} {shared}/")
    ok(f"diff -r {src} {shared}/src")
    assert relative_files(shared / "src") == relative_files(src)
    untar = m / "artifacts/s1/untar"
    ok(f"mkdir {untar} && tar cf - -C {tmp_path} src | tar xf - -C {untar}")
    ok(f"diff -r {src} {untar}/src")
    ok(f"rsync -a {src}/ {shared}/synced/")
    ok(f"diff -r {src} {shared}/synced")
    # another mount sees the same trees (the dot file rsync could have used as
    # a temporary name is published once it is left alone)
    for tree in ("artifacts/shared/src", "artifacts/s1/untar/src", "artifacts/shared/synced"):
        assert eventually(lambda t=tree: sh(f"diff -r {src} {bob / t}").returncode == 0), tree
    files = relative_files(src)
    expected = sorted(
        f"artifacts/{where}/{f[2:]}"
        for where in ("shared/src", "s1/untar/src", "shared/synced")
        for f in files
    )
    assert [k for k in keys(backend) if k.startswith("artifacts/")] == expected
    puts = [s for kind, s in events_after_unmount(m, backend) if kind == "artifact-put"]
    assert sorted(puts) == sorted(k.removeprefix("artifacts/") for k in expected)


def test_mv_within_and_across_kinds(mount, backend: Backend, tmp_path: Path) -> None:
    m = mount("alice")
    shared = m / "artifacts/shared"
    ok(f"cp -r {make_tree(tmp_path)} {shared}/")
    ok(f"mv '{shared}/src/my report.txt' '{shared}/src/sub/renamed report.txt'")
    assert ok(f"cat '{shared}/src/sub/renamed report.txt'") == "a report\n"
    assert not (shared / "src" / "my report.txt").exists()
    # a directory, or from memory to artifacts: EXDEV, and mv copies then removes
    ok(f"mv {shared}/src {shared}/moved")
    assert ok(f"cat {shared}/moved/.hidden") == "dot file\n"
    assert not (shared / "src").exists()
    ok(f"echo value > {m.path}/memory/design/db && mv {m.path}/memory/design/db {shared}/db.txt")
    assert ok(f"cat {shared}/db.txt") == "value\n"
    assert sh(f"cat {m.path}/memory/design/db").returncode != 0
    r = sh(f"echo x > '{m.path}/artifacts/shared/bad\nname'")
    assert r.returncode != 0 and "Invalid argument" in r.stderr


def test_cli_reads_what_the_mount_names_broadly(
    mount, backend: Backend, tracecraft, tmp_path: Path
) -> None:
    if backend.name != "s3":
        pytest.skip("the tracecraft CLI speaks S3")
    m = mount("alice")
    shared = m / "artifacts/shared"
    ok(f"echo report > '{shared}/my report.txt'")
    ok(f"mkdir -p '{shared}/dir/sub' && echo deep > '{shared}/dir/sub/résumé.txt'")
    listed = tracecraft("cli-agent", "artifact", "list")
    assert listed.returncode == 0, listed.stderr
    assert "artifacts/shared/my report.txt" in listed.stdout.splitlines()
    assert "artifacts/shared/dir/sub/résumé.txt" in listed.stdout.splitlines()
    for name, body in (("my report.txt", "report\n"), ("dir/sub/résumé.txt", "deep\n")):
        out = tmp_path / "downloaded"
        got = tracecraft("cli-agent", "artifact", "download", name, "-o", str(out))
        assert got.returncode == 0, got.stderr
        assert out.read_text() == body
    # memory keys and step ids take the names the CLI takes
    ok(f"echo 'a value' > '{m.path}/memory/design/my key'")
    got = tracecraft("cli-agent", "memory", "get", "design.my key")
    assert got.returncode == 0 and "a value" in got.stdout, got.stderr
    ok(f"echo me > '{m.path}/steps/build 2/claim'")
    got = tracecraft("cli-agent", "step-status", "build 2")
    assert got.returncode == 0 and "in_progress" in got.stdout, got.stderr
    up = tmp_path / "cli file.txt"
    up.write_text("from the cli\n")
    assert tracecraft("cli-agent", "artifact", "upload", str(up)).returncode == 0
    assert ok(f"cat '{shared}/cli file.txt'") == "from the cli\n"


def test_rsync_temp_name_never_reaches_the_bucket(mount, backend: Backend, tmp_path: Path) -> None:
    """rsync writes ``.name.XXXXXX`` and renames it: watched as it runs."""
    m = mount("alice")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(4 << 20))
    seen: set[str] = set()
    proc = subprocess.Popen(["rsync", str(big), str(m / "artifacts/shared/")])
    while proc.poll() is None:
        seen.update(keys(backend))
    assert proc.wait(timeout=60) == 0
    seen.update(keys(backend))
    assert [k for k in seen if k.startswith("artifacts/")] == ["artifacts/shared/big.bin"]


def test_an_artifact_under_a_scratch_name_is_published_by_unmount(mount, backend: Backend) -> None:
    """``.env.sample`` looks like rsync's temporary name: left alone it is an
    artifact after a moment, and at once when the mount ends."""
    m = mount("alice")
    shared = m / "artifacts/shared"
    # renamed onto a scratch name and left there
    ok(f"echo old > {shared}/a.txt && mv {shared}/a.txt {shared}/a.txt~")
    assert "artifacts/shared/a.txt~" not in keys(backend)  # not yet: it may be renamed
    assert eventually(lambda: "artifacts/shared/a.txt~" in keys(backend))
    ok(f"echo KEY=1 > {shared}/.env.sample")
    assert "artifacts/shared/.env.sample" not in keys(backend)
    assert events_after_unmount(m, backend) == [
        ("artifact-put", "shared/a.txt"),
        ("artifact-delete", "shared/a.txt"),
        ("artifact-put", "shared/a.txt~"),
        ("artifact-put", "shared/.env.sample"),
    ]
    assert backend.store.get("artifacts/shared/.env.sample").body == b"KEY=1\n"
