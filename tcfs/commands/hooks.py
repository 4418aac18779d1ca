"""``tcfs hooks install|uninstall|status`` and ``tcfs hook`` (one hook call)."""

from __future__ import annotations

import os

import click

from tcfs import harnesses
from tcfs.hooks import hookfile, install
from tcfs.hooks.harness import load

ALL = harnesses.hooked()
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
@click.option(
    "--trust",
    is_flag=True,
    help="also record the harness's trust of this project, where its hooks need it "
    "(Codex, Gemini CLI)",
)
def install_cmd(harness: str, mountpoint: str, user: bool, trust: bool) -> None:
    """Merge tcfs's hooks into HARNESS's configuration (project scope by default),
    with what its safety settings need to let the agent use the mount, scoped
    to the mount: never a bypass.  ``git``: a pre-commit guard against
    committing another agent's reserved files."""
    mountpoint = os.path.abspath(mountpoint)
    if harness == GIT:
        _git_guard(mountpoint)
        return
    h = load(harness)
    try:
        done = install.install(h, mountpoint, user=user, trust=trust)
    except hookfile.SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    verb = "installed" if done.changed else "already installed:"
    events = ", ".join(h.events.values())
    click.echo(f"{verb} {h.title} hooks ({events}) for {mountpoint} in {done.path}")
    for line in done.granted:
        click.echo(f"granted: {line}")
    if h.trust is not None and not trust:
        click.echo(
            f"note: {h.title} runs this project's hooks only in a trusted project; to record "
            f"that consent run: tcfs hooks install {harness} --mount {mountpoint} --trust"
        )
    if h.notes:
        click.echo(f"note: {h.notes}")
    if h.headless:
        click.echo(f"then: {h.headless}")
    from tcfs import registry

    if not registry.is_mounted(mountpoint):
        click.echo(f"note: {mountpoint} is not mounted now; the hooks will say so until it is")


@hooks.command("uninstall")
@click.argument("harness", type=click.Choice([*ALL, GIT]))
@click.option("--user", is_flag=True, help="the user's settings instead of this project's")
def uninstall_cmd(harness: str, user: bool) -> None:
    """Remove what `tcfs hooks install` added to HARNESS's configuration (and nothing else)."""
    if harness == GIT:
        _git_guard(None)
        return
    h = load(harness)
    try:
        done = install.uninstall(h, user=user)
    except hookfile.SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    if done.changed:
        click.echo(f"removed tcfs's {h.title} hooks from {done.path}")
    for line in done.granted:
        click.echo(f"took back: {line}")
    if not done.changed and not done.granted:
        click.echo(f"none in {done.path}")


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
            for line in st.granted:
                click.echo(f"  granted: {line}")


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    options_metavar="HARNESS {session-start,prompt,stop} --mount MOUNTPOINT",
)
@click.pass_context
def hook(ctx: click.Context) -> None:
    """One hook call, as a harness makes it: its event as JSON on stdin, the answer on stdout.

    The same as `python -m tcfs.hooks ...`, which is what `tcfs hooks install`
    writes (it starts faster than the CLI).
    """
    from tcfs.hooks.run import main

    main(list(ctx.args))
