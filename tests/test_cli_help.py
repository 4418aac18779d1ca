"""Every command's ``--help`` works and says what an option left out comes to."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
import pytest

from tcfs.cli import COMMANDS


def help_of(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tcfs", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_help(name: str) -> None:
    r = help_of(name)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"Usage: tcfs {name}"), r.stdout


def test_hook_help_shows_how_a_harness_calls_it() -> None:
    r = help_of("hook")
    assert r.returncode == 0, r.stderr
    assert "HARNESS {session-start,prompt,stop} --mount MOUNTPOINT" in r.stdout


def test_mount_help_shows_the_defaults() -> None:
    text = " ".join(help_of("mount").stdout.split())  # unwrapped
    for option, default in (
        ("--backend", "local"),
        ("--project", "the working directory's name"),
        ("--agent", "your user name"),
        ("--lease-ttl", "60"),
        ("--wait-timeout", "300"),
        ("--sweep", "60"),
    ):
        after = text.split(f"{option} ", 1)[1]
        shown = after.split("[default: ", 1)[1].split("]", 1)[0]
        assert shown.strip("()") == default, (option, shown)


def _all_commands() -> list[tuple[str, click.Command]]:
    """Every command and subcommand, by its full name."""
    found: list[tuple[str, click.Command]] = []

    def walk(name: str, command: click.Command) -> None:
        found.append((name, command))
        if isinstance(command, click.Group):
            for sub, child in command.commands.items():
                walk(f"{name} {sub}", child)

    for name, (module, attr, _) in COMMANDS.items():
        walk(name, getattr(importlib.import_module(module), attr))
    return found


@pytest.mark.parametrize("name,command", _all_commands(), ids=lambda x: str(x).replace(" ", "-"))
def test_every_option_says_its_default(name: str, command: click.Command) -> None:
    ctx = click.Context(command, info_name=name)
    missing = []
    for param in command.params:
        if not isinstance(param, click.Option) or param.is_flag or param.required:
            continue  # a flag is off unless given; a required option has no default
        if param.hidden:
            continue
        record = param.get_help_record(ctx)
        if record is None or "default" not in record[1]:
            missing.append(param.opts[0])
    assert missing == [], f"tcfs {name} --help gives no default for {missing}"


def test_replay_agent_is_a_filter_not_an_identity() -> None:
    text = " ".join(help_of("replay").stdout.split())
    agent = text.split("--agent TEXT ", 1)[1].split(" --", 1)[0]
    assert (
        agent.startswith("show only these agents' events") and "[default: (every agent)]" in agent
    )
    assert "this agent's id" not in text and "not an identity" not in text
