"""``artifacts/<step or shared>/<name>``: files of any size."""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING, BinaryIO

from tcfs import names
from tcfs.errors import NotFound
from tcfs.fs import handles as h
from tcfs.fs.nodes import Node, OpenMode, Stat, WritableDir
from tcfs.protocol.artifacts import SHARED

if TYPE_CHECKING:
    from tcfs.fs.context import FsContext

#: a download for an append reads the whole artifact: more time than one read
DOWNLOAD_BASE_S = 120.0


def check_scope(name: str) -> str:
    return SHARED if name == SHARED else names.step_id(name)


class ArtifactsDir(WritableDir):
    """``shared`` and every step with artifacts."""

    __slots__ = ()

    async def entries(self, ctx: FsContext) -> list[Stat]:
        scopes = set(await ctx.run(ctx.project.artifacts.scopes)) | {SHARED}
        return [Stat(c, 0) for s in sorted(scopes) if (c := self.child(s))]


class Scope(WritableDir):
    """Every valid scope exists."""

    __slots__ = ()

    @property
    def scope(self) -> str:
        return self.path[1]

    async def entries(self, ctx: FsContext) -> list[Stat]:
        found = await ctx.run(ctx.project.artifacts.files, self.scope)
        return [Stat(c, i.size, i.mtime) for i in found if (c := self.child(i.key))]


class Artifact(Node):
    """Read at any offset; written to a private spool and uploaded whole at close."""

    __slots__ = ()
    perm = 0o644
    direct_io = False
    creatable = True
    writable = True

    @property
    def scope(self) -> str:
        return self.path[1]

    async def stat(self, ctx: FsContext, *, keep: bool = False) -> Stat:
        info = await ctx.run(ctx.project.artifacts.head, self.scope, self.name)
        return Stat(self, info.size, info.mtime)

    async def open_read(self, ctx: FsContext, ino: int) -> h.Handle:
        artifacts, scope, name = ctx.project.artifacts, self.scope, self.name
        info = await ctx.run(artifacts.head, scope, name)  # ENOENT now, not at the first read

        async def fetch(off: int, size: int) -> bytes:
            return await ctx.run(artifacts.read, scope, name, off, size)

        # The kernel keeps what it cached of the file only when this open sees
        # the version the last read open saw: close-to-open, at no request.
        return h.ArtifactReader(ino, fetch, keep_cache=ctx.versions.same(ino, info.etag))

    async def open_write(self, ctx: FsContext, ino: int, how: OpenMode) -> h.Handle:
        artifacts, scope, name = ctx.project.artifacts, self.scope, self.name

        uploaded: list[tuple[int, str]] = []  # (size, ETag) of this open file's last upload

        async def upload(fileobj: BinaryIO, size: int) -> None:
            uploaded[:] = [(size, await ctx.write(artifacts.upload, scope, name, fileobj, size))]

        async def discard() -> None:
            if uploaded:
                await ctx.write(artifacts.discard, scope, name, uploaded.pop()[1])

        def record() -> None:
            # one event per open file: a shell's redirection closes a copy of
            # the descriptor (an upload) before the command writes anything
            if uploaded:
                ctx.events.emit("artifact-put", f"{scope}/{name}", size=uploaded[0][0])

        async def download(fileobj: BinaryIO) -> None:
            try:
                limit = DOWNLOAD_BASE_S + ctx.calls.timeout
                await ctx.calls.run(artifacts.download, scope, name, fileobj, timeout=limit)
            except NotFound:
                pass

        return h.ArtifactWriter(
            ino,
            ctx.spool_dir or tempfile.gettempdir(),
            upload,
            download=download,
            discard=discard,
            created=how.truncate,
            new=how.created,
            append=how.append,
            on_release=record,
        )

    async def unlink(self, ctx: FsContext) -> None:
        await ctx.write(ctx.project.artifacts.delete, self.scope, self.name)
        ctx.events.emit("artifact-delete", f"{self.scope}/{self.name}")
