"""The FUSE bindings the core can be mounted through (``tcfs mount --fuse``).

pyfuse3 (libfuse 3's low-level, inode-based API on trio) is the default on
Linux; mfusepy (libfuse's high-level, path-based API through ctypes) is the one
that runs on macOS with macFUSE, and on Linux too.  Both serve the same
``FsCore``; a binding only mounts, runs its loop, stops it, and says whether it
can invalidate the kernel's cache.
"""

from __future__ import annotations

import errno
import logging
import signal
import sys
import threading
from typing import TYPE_CHECKING, Protocol

from tcfs import registry

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tcfs.fs.core import FsCore

log = logging.getLogger(__name__)

PYFUSE3 = "pyfuse3"
MFUSEPY = "mfusepy"
NAMES = (PYFUSE3, MFUSEPY)
#: pyfuse3 does not build against macFUSE
DEFAULT = MFUSEPY if sys.platform == "darwin" else PYFUSE3
MAX_TASKS = 64


class Binding(Protocol):
    name: str

    def invalidator(self) -> Callable[[int], None] | None:
        """What drops an inode's cached attributes, None if nothing can."""

    def mount(self, core: FsCore, mnt: str) -> None:
        """Mount before the loop starts, where the binding can (``RuntimeError``)."""

    async def run(self, core: FsCore, mnt: str) -> None:
        """Serve until stopped or unmounted."""

    def stop(self) -> None:
        """End the loop ``run`` is in (from the trio loop)."""

    def close(self) -> None:
        """After the trio loop: make sure nothing stays mounted."""


class Pyfuse3Binding:
    name = PYFUSE3

    def invalidator(self) -> Callable[[int], None]:
        return _invalidate

    def mount(self, core: FsCore, mnt: str) -> None:
        import pyfuse3

        from tcfs.fs.adapter import TcfsOperations

        options = set(pyfuse3.default_options) | {"fsname=tcfs", "subtype=tcfs"}
        pyfuse3.init(TcfsOperations(core), mnt, options)

    async def run(self, core: FsCore, mnt: str) -> None:
        import pyfuse3

        await pyfuse3.main(min_tasks=4, max_tasks=MAX_TASKS)

    def stop(self) -> None:
        import pyfuse3

        pyfuse3.terminate()

    def close(self) -> None:
        import pyfuse3

        pyfuse3.close(unmount=True)


def _invalidate(ino: int) -> None:
    import pyfuse3

    try:
        pyfuse3.invalidate_inode(ino, attr_only=True)
    except OSError as exc:
        if exc.errno != errno.ENOENT:  # the kernel forgot it already: nothing cached
            raise


class MfusepyBinding:
    """libfuse's loop runs in a worker thread (it mounts as it starts); its
    callbacks come back to the trio loop.  It ends when the mount is gone, or at
    the first request after ``stop`` (readers that retry after EINTR)."""

    name = MFUSEPY

    def __init__(self, stop_signals: Sequence[signal.Signals]) -> None:
        self.stop_signals = stop_signals
        self.mnt = ""
        self.stopping = threading.Event()

    def invalidator(self) -> None:
        return None  # the high-level API has none: short timeouts instead

    def mount(self, core: FsCore, mnt: str) -> None:
        import tcfs.fs.adapter_mfusepy  # noqa: F401 - a missing libfuse fails here

        self.mnt = mnt

    async def run(self, core: FsCore, mnt: str) -> None:
        import trio

        from tcfs.fs.adapter_mfusepy import serve

        token = trio.lowlevel.current_trio_token()

        def mounted() -> None:  # in libfuse's thread, once the kernel said hello
            trio.from_thread.run_sync(self._reclaim_signals, trio_token=token)

        volume = f"tcfs {mnt.rstrip('/').rpartition('/')[2]}"
        try:
            await trio.to_thread.run_sync(serve, core, token, mnt, volume, mounted, self.stopping)
        except RuntimeError as exc:  # libfuse mounts as its loop starts: the daemon ends
            log.error("cannot mount %s: libfuse failed (%s)", mnt, exc)

    def _reclaim_signals(self) -> None:
        """libfuse set its own handlers for the stop signals as it started; put
        the daemon's back, so a signal still unmounts cleanly (in the main thread)."""
        for sig in self.stop_signals:
            handler = signal.getsignal(sig)
            if handler is not None:
                signal.signal(sig, handler)

    def stop(self) -> None:
        self.stopping.set()
        threading.Thread(
            target=registry.unmount, args=(self.mnt,), kwargs={"lazy": True}, daemon=True
        ).start()

    def close(self) -> None:
        if self.mnt and registry.is_mounted(self.mnt):
            registry.unmount(self.mnt, lazy=True)


def binding(name: str, stop_signals: Sequence[signal.Signals]) -> Binding:
    if name == MFUSEPY:
        return MfusepyBinding(stop_signals)
    return Pyfuse3Binding()
