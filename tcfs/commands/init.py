"""``tcfs init``: write the config file the other commands read."""

from __future__ import annotations

from typing import Any

import click

from tcfs import config
from tcfs.commands.common import BACKEND_OPTIONS, backend_options, lease_options, settings_from


@click.command()
@backend_options
@lease_options
@click.option(
    "--save-secrets",
    is_flag=True,
    help="also store the credentials found in the environment (file is 0600)",
)
@click.option("--reset", is_flag=True, help="start over: drop every setting an earlier init wrote")
def init(save_secrets: bool, reset: bool, **kwargs: Any) -> None:
    """Write the config file (mode 0600) from the given options.

    Run again, it changes only the options given and keeps the rest of what
    the earlier init wrote; --reset starts from nothing.
    """
    savable = (*BACKEND_OPTIONS, config.LEASE_TTL, config.WAIT_TIMEOUT)
    given = {o.name: kwargs.get(o.name) for o in savable}
    # validate the whole resolution once, with the same rules as mount
    s = settings_from(
        dict(kwargs),
        lease_ttl=kwargs.get("lease_ttl"),
        wait_timeout=kwargs.get("wait_timeout"),
        saved=not reset,
    )
    kept = {} if reset else config.saved_config()
    values = {**kept, **{k: v for k, v in given.items() if v is not None}}
    values.setdefault("backend", s.backend)
    values.setdefault("bucket", s.bucket)
    if save_secrets:
        values.update(s.secrets())
    path = config.write_config(values)
    declared = {o.name: o for o in s.declared}
    shown = ", ".join(
        f"{k}={declared[k].shown(v) if k in declared else v}" for k, v in values.items()
    )
    click.echo(f"wrote {path} ({shown})")
    unchanged = [k for k, v in kept.items() if given.get(k) is None and values.get(k) == v]
    if unchanged:
        click.echo(f"kept from before: {', '.join(unchanged)} (--reset starts over)")
