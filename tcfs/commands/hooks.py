"""``tcfs hooks install|uninstall|status`` and ``tcfs hook`` (one hook call)."""

from __future__ import annotations

import os

import click

from tcfs.hooks import hookfile, install
from tcfs.hooks.harness import HOOKED, load

ALL = sorted(HOOKED)
#: not a harness: the pre-commit guard of the git repository in the working directory
GIT = "git"


def _scope(user: bool) -> str:
    return "user" if user else "project"


@click.group()
def hooks() -> None:
    """Deliver mail into agents' turns through their harness's hooks."""


@hooks.command("install")
@click.argument("harness", type=click.Choice([*ALL, GIT]))
@click.option("--mount", "mountpoint", required=True, help="the agent's tcfs mountpoint")
@click.option("--user", is_flag=True, help="the user's settings instead of this project's")
def install_cmd(harness: str, mountpoint: str, user: bool) -> None:
    """Merge tcfs's hooks into HARNESS's configuration (project scope by default);
    ``git``: a pre-commit guard against committing another agent's reserved files."""
    mountpoint = os.path.abspath(mountpoint)
    if harness == GIT:
        _git_guard(mountpoint)
        return
    h = load(harness)
    try:
        path, changed = install.install(h, mountpoint, user=user)
    except hookfile.SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    verb = "installed" if changed else "already installed:"
    events = ", ".join(h.events.values())
    click.echo(f"{verb} {h.title} hooks ({events}) for {mountpoint} in {path}")
    if h.notes:
        click.echo(f"note: {h.notes}")
    from tcfs import registry

    if not registry.is_mounted(mountpoint):
        click.echo(f"note: {mountpoint} is not mounted now; the hooks will say so until it is")


@hooks.command("uninstall")
@click.argument("harness", type=click.Choice([*ALL, GIT]))
@click.option("--user", is_flag=True, help="the user's settings instead of this project's")
def uninstall_cmd(harness: str, user: bool) -> None:
    """Remove tcfs's hooks (and nothing else) from HARNESS's configuration."""
    if harness == GIT:
        _git_guard(None)
        return
    h = load(harness)
    try:
        path, changed = install.uninstall(h, user=user)
    except hookfile.SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"removed tcfs's {h.title} hooks from {path}" if changed else f"none in {path}")


def _git_guard(mountpoint: str | None) -> None:
    """Install the git guard for ``mountpoint`` in this repository, or (None) remove it."""
    from pathlib import Path

    from tcfs.hooks import gitguard

    try:
        if mountpoint is None:
            path, changed = gitguard.uninstall(Path.cwd())
            click.echo(f"removed tcfs's git guard from {path}" if changed else f"none in {path}")
        else:
            path, changed = gitguard.install(mountpoint, Path.cwd())
            verb = "installed" if changed else "already installed:"
            click.echo(f"{verb} the git guard (pre-commit) for {mountpoint} in {path}")
    except gitguard.GitGuardError as exc:
        raise click.ClickException(str(exc)) from exc


@hooks.command("status")
def status_cmd() -> None:
    """What is installed where, for every harness, in this project and for the user."""
    for name in ALL:
        h = load(name)
        for user in (False, True) if h.project_file else (True,):
            try:
                st = install.status(h, user=user)
            except hookfile.SettingsError as exc:
                click.echo(f"{name} ({_scope(user)}): {exc}")
                continue
            if st.events:
                where = ", ".join(st.mounts)
                click.echo(
                    f"{name} ({_scope(user)}): {', '.join(st.events)} -> {where}  [{st.path}]"
                )
            else:
                click.echo(f"{name} ({_scope(user)}): not installed  [{st.path}]")


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.pass_context
def hook(ctx: click.Context) -> None:
    """One hook call: HARNESS {session-start,prompt,stop} --mount MOUNTPOINT.

    The same as `python -m tcfs.hooks ...`, which is what `tcfs hooks install`
    writes (it starts faster than the CLI).
    """
    from tcfs.hooks.run import main

    main(list(ctx.args))
