"""Every harness record (``tcfs.harnesses``) is whole: each part it names is
there under its name, every command offers it, and the tests pin, run and
read its program."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tcfs import harnesses
from tcfs.harnesses import RECORDS, HarnessRecord
from tcfs.hooks.harness import load
from tcfs.hooks.instructions import target
from tcfs.mirror import adapters
from tcfs.replay.conversation import FORMATS
from tests.support.harnesses.fixtures import KEEP
from tests.support.harnesses.install import PINS
from tests.support.harnesses.programs import PROGRAMS
from tests.support.harnesses.sources import READERS

NAMES = [r.name for r in RECORDS]


@pytest.mark.parametrize("record", RECORDS, ids=NAMES)
def test_each_record_names_parts_that_are_there(record: HarnessRecord) -> None:
    if record.hooks:
        assert load(record.name).name == record.name
    assert adapters.get(record.name).name == record.name
    assert record.transcript in FORMATS
    assert record.instructions.endswith(".md")
    assert target(record.name).name == record.instructions
    assert harnesses.get(record.name) is record


def test_names_are_unique_and_unknown_ones_are_refused() -> None:
    assert len(set(NAMES)) == len(NAMES)
    assert adapters.names() == sorted(NAMES)
    with pytest.raises(KeyError, match="choose one of claude-code, codex"):
        harnesses.get("nope")
    with pytest.raises(KeyError):
        load("nope")


def help_text(*command: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "tcfs", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stderr
    return " ".join(r.stdout.split()).replace("- ", "-")  # unwrapped, as one line


@pytest.mark.parametrize(
    "command", [("mirror",), ("mount",), ("instructions",), ("hooks", "install")], ids=" ".join
)
def test_every_command_that_takes_a_harness_lists_every_one(command: tuple[str, ...]) -> None:
    text = help_text(*command)
    hooked = command == ("hooks", "install")
    missing = [r.name for r in RECORDS if r.name not in text and (r.hooks or not hooked)]
    assert missing == [], f"tcfs {' '.join(command)} --help leaves out {missing}"


def test_the_tests_pin_run_and_read_every_harness() -> None:
    for table, of in (
        (PINS, "install.py's PINS"),
        (PROGRAMS, "programs.py's PROGRAMS"),
        (READERS, "sources.py's READERS"),
        (KEEP, "fixtures.py's KEEP"),
    ):
        assert sorted(table) == sorted(NAMES), f"{of} is out of step with tcfs.harnesses"
    for record in RECORDS:
        pin = PINS[record.name]
        assert (pin.package, pin.version) == (record.tested.package, record.tested.version)
