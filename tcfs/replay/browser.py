"""How tcfs drives a headless Chromium (the viewer's tests, its benchmark and
``docs/replay.png``): Debian's ``chromium`` through Playwright, never a
browser Playwright downloads, with every feature that reaches the network off."""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
