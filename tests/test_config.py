"""The options' declarations: what loading the config costs, and the
documentation's table of them kept true."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tcfs import config, store
from tcfs.config import Option

REPO = Path(__file__).resolve().parent.parent
CONFIG_DOC = REPO / "docs" / "configuration.md"


def test_loading_the_config_loads_no_layer_above_it() -> None:
    """Every hook call loads the config: it must not pay for the protocol or the store."""
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import tcfs.config, sys; "
            "print(sorted(m for m in sys.modules if m.startswith('tcfs.')))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['tcfs.config', 'tcfs.errors', 'tcfs.names']"


def _table_rows() -> dict[str, list[str]]:
    """The options table of the configuration page, by its config key."""
    section = CONFIG_DOC.read_text().split("## Options", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 6 and cells[3].startswith("`"):
            rows[cells[3].strip("`")] = cells
    return rows


@pytest.mark.parametrize("option", [o for o in store.OPTIONS if not o.secret], ids=lambda o: o.name)
def test_every_option_is_in_the_documented_table(option: Option) -> None:
    row = _table_rows().get(option.name)
    assert row is not None, f"docs/configuration.md has no row for the config key {option.name}"
    _, flag, env, _, peer, default = row
    assert option.flag is not None
    for name in option.flag.split("/"):
        assert f"`{name}" in flag
    for var in option.env:
        assert f"`{var}`" in env
    assert peer == (f"`{option.peer}`" if option.peer else "—")
    if option.default not in (None, ""):
        shown = f"{option.default:g}" if option.parse is float else f"`{option.default}`"
        assert default.startswith(shown)


@pytest.mark.parametrize("option", [o for o in store.OPTIONS if o.secret], ids=lambda o: o.name)
def test_every_secret_is_in_the_documented_secrets(option: Option) -> None:
    section = CONFIG_DOC.read_text().split("## Secrets", 1)[1].split("\n## ", 1)[0]
    text = " ".join(section.split())
    assert option.flag is None  # a secret is never a flag: every user's ps shows those
    for var in option.env:
        assert f"`{var}`" in text
    assert option.peer is not None and f"`{option.peer}`" in text


def test_a_child_gets_a_password_in_its_environment_not_its_arguments() -> None:
    s = store.resolve(
        saved=False,
        backend="s3",
        bucket="b",
        project="p",
        agent="a",
        endpoint="http://user:pa55@127.0.0.1:9",
    )
    s.options["secret_key"] = "s3cret"
    flags, env = s.for_child()
    assert not any("pa55" in f or "s3cret" in f for f in flags)
    assert env["TCFS_ENDPOINT"] == "http://user:pa55@127.0.0.1:9"
    assert env["AWS_SECRET_ACCESS_KEY"] == "s3cret"
    assert flags[:8] == ["--backend", "s3", "--bucket", "b", "--project", "p", "--agent", "a"]
    flags, env = s.for_child(leave_out=config.MOUNT_OPTIONS)
    assert "--sweep" not in flags and "--lease-ttl" not in flags
