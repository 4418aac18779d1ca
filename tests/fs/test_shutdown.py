"""A daemon with blocked readers still stops promptly, however it is stopped.

Readers blocked in ``steps/<id>/wait`` or ``inbox/next`` hold a handler each;
pyfuse3 waits for running handlers before it exits, so the daemon must end
them (``EINTR``) when it is told to stop: by SIGTERM, or by an unmount done
from outside.
"""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.support.mounts import FUSERMOUNT, Backend, eventually, sh

pytestmark = pytest.mark.mount


def _blocked_readers(m) -> list[subprocess.Popen[str]]:  # type: ignore[no-untyped-def]
    readers = [
        subprocess.Popen(
            ["bash", "-c", f"cat {m / path}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in ("steps/never/wait", "steps/never/wait", "inbox/next")
    ]
    # they block: the step is never completed and no mail comes
    assert not eventually(lambda: any(r.poll() is not None for r in readers), timeout=1.5)
    return readers


@pytest.mark.parametrize("how", ["sigterm", "fusermount"])
def test_blocked_readers_do_not_keep_the_daemon_alive(mount, backend: Backend, how: str) -> None:
    if backend.name != "local":
        pytest.skip("shutdown does not depend on the backend")
    m = mount("alice", wait_timeout=120)
    readers = _blocked_readers(m)
    if how == "sigterm":
        m.proc.send_signal(signal.SIGTERM)
    else:
        assert FUSERMOUNT is not None
        r = subprocess.run([FUSERMOUNT, "-u", "-z", str(m.path)], capture_output=True, timeout=20)
        assert r.returncode == 0, r.stderr
    m.proc.wait(timeout=20)  # well before the 120 s wait timeout
    for r in readers:
        r.communicate(timeout=20)
        assert r.returncode != 0
    assert "unmounted" in m.log_text()
    assert sh(f"ls {m.path}").returncode == 0  # the mountpoint is a plain directory again
