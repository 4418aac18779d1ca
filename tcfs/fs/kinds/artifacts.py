"""``artifacts/<step or shared>/<path>``: a tree of files of any size.

An artifact's key is its path below the scope, as it is
(``artifacts/shared/dir/my report.txt``).  A bucket has no directories: a
directory exists while some artifact is below it, or, made with ``mkdir`` on
this mount and still empty, on this mount only (``FsContext.artifact_dirs``).
"""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING, BinaryIO

from tcfs import names
from tcfs.errors import Exists, IsADirectory, NotADirectory, NotEmpty, NotFound
from tcfs.fs import handles as h
from tcfs.fs.nodes import Node, OpenMode, Path, Stat, WritableDir
from tcfs.protocol.artifacts import SHARED

if TYPE_CHECKING:
    from tcfs.fs.context import FsContext

#: a download for an append reads the whole artifact: more time than one read
DOWNLOAD_BASE_S = 120.0


def check_scope(name: str) -> str:
    return SHARED if name == SHARED else names.step_id(name)


def made_below(ctx: FsContext, path: Path) -> set[str]:
    """Names of the directories made with mkdir on this mount directly in ``path``."""
    n = len(path)
    return {d[n] for d in ctx.artifact_dirs if len(d) > n and d[:n] == path}


class ArtifactsDir(WritableDir):
    """``shared`` and every step with artifacts."""

    __slots__ = ()

    async def entries(self, ctx: FsContext) -> list[Stat]:
        scopes = set(await ctx.run(ctx.project.artifacts.scopes)) | {SHARED}
        return [Stat(c, 0) for s in sorted(scopes) if (c := self.child(s))]


class InScope:
    """A path below ``artifacts/<scope>/``: its scope and its name there."""

    __slots__ = ()
    path: Path

    @property
    def scope(self) -> str:
        return self.path[1]

    @property
    def relative(self) -> str:
        """The artifact's name in its scope: its path below it (``dir/f.txt``)."""
        return "/".join(self.path[2:])


class Folder(InScope, WritableDir):
    """A directory of artifacts: a scope, or a directory below one."""

    __slots__ = ()
    keeps_scratch = True

    async def entries(self, ctx: FsContext) -> list[Stat]:
        files, folders = await ctx.run(ctx.project.artifacts.entries, self.scope, self.relative)
        subdirs = set(folders) | made_below(ctx, self.path)
        out = [Stat(ArtifactFolder(c.path), 0) for d in sorted(subdirs) if (c := self.child(d))]
        # a key that is also a prefix shows as the directory
        out += [
            Stat(Artifact(c.path), i.size, i.mtime)
            for i in files
            if i.key not in subdirs and (c := self.child(i.key))
        ]
        return out


class Scope(Folder):
    """Every valid scope exists."""

    __slots__ = ()


class ArtifactFolder(Folder):
    """A directory below a scope: what the bucket holds below it can change."""

    __slots__ = ()
    lasting = False


class Artifact(InScope, Node):
    """Read at any offset; written to a private spool and uploaded whole at close."""

    __slots__ = ()
    perm = 0o644
    direct_io = False
    creatable = True
    writable = True

    async def stat(self, ctx: FsContext, *, keep: bool = False) -> Stat:
        info = await ctx.run(ctx.project.artifacts.head, self.scope, self.relative)
        return Stat(self, info.size, info.mtime)

    async def open_read(self, ctx: FsContext, ino: int) -> h.Handle:
        artifacts, scope, name = ctx.project.artifacts, self.scope, self.relative
        info = await ctx.run(artifacts.head, scope, name)  # ENOENT now, not at the first read

        async def fetch(off: int, size: int) -> bytes:
            return await ctx.run(artifacts.read, scope, name, off, size)

        # The kernel keeps what it cached of the file only when this open sees
        # the version the last read open saw: close-to-open, at no request.
        return h.ArtifactReader(ino, fetch, keep_cache=ctx.versions.same(ino, info.etag))

    async def download(self, ctx: FsContext, fileobj: BinaryIO) -> None:
        limit = DOWNLOAD_BASE_S + ctx.calls.timeout
        await ctx.calls.run(
            ctx.project.artifacts.download, self.scope, self.relative, fileobj, timeout=limit
        )

    async def upload(self, ctx: FsContext, fileobj: BinaryIO, size: int) -> str:
        """Upload ``fileobj`` as this artifact; its new ETag."""
        etag: str = await ctx.write(
            ctx.project.artifacts.upload, self.scope, self.relative, fileobj, size
        )
        return etag

    def record_put(self, ctx: FsContext, size: int) -> None:
        ctx.events.emit("artifact-put", f"{self.scope}/{self.relative}", size=size)

    async def open_write(self, ctx: FsContext, ino: int, how: OpenMode) -> h.Handle:
        uploaded: list[tuple[int, str]] = []  # (size, ETag) of this open file's last upload

        async def upload(fileobj: BinaryIO, size: int) -> None:
            uploaded[:] = [(size, await self.upload(ctx, fileobj, size))]

        async def discard() -> None:
            if uploaded:
                artifacts = ctx.project.artifacts
                await ctx.write(artifacts.discard, self.scope, self.relative, uploaded.pop()[1])

        def record() -> None:
            # one event per open file: a shell's redirection closes a copy of
            # the descriptor (an upload) before the command writes anything
            if uploaded:
                self.record_put(ctx, uploaded[0][0])

        async def download(fileobj: BinaryIO) -> None:
            try:
                await self.download(ctx, fileobj)
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

    async def content(self, ctx: FsContext) -> tuple[BinaryIO, int]:
        spool: BinaryIO = tempfile.TemporaryFile(dir=ctx.spool_dir or None)  # noqa: SIM115
        try:
            await self.download(ctx, spool)
        except BaseException:
            spool.close()
            raise
        spool.seek(0, 2)
        size = spool.tell()
        spool.seek(0)
        return spool, size

    async def receive(self, ctx: FsContext, fileobj: BinaryIO, size: int) -> None:
        await self.upload(ctx, fileobj, size)
        self.record_put(ctx, size)

    async def unlink(self, ctx: FsContext) -> None:
        await ctx.write(ctx.project.artifacts.delete, self.scope, self.relative)
        ctx.events.emit("artifact-delete", f"{self.scope}/{self.relative}")


class ArtifactEntry(InScope, Node):
    """A name below a scope before the bucket says what it is."""

    __slots__ = ()
    keeps_scratch = True
    publishes_scratch = True

    @classmethod
    def check(cls, path: Path) -> None:
        names.artifact_name("/".join(path[2:]))

    def for_create(self) -> Node:
        return Artifact(self.path)

    async def _is_folder(self, ctx: FsContext) -> bool:
        if self.path in ctx.artifact_dirs:
            return True
        return await ctx.run(ctx.project.artifacts.is_folder, self.scope, self.relative)

    async def stat(self, ctx: FsContext, *, keep: bool = False) -> Stat:
        if self.path in ctx.artifact_dirs:
            return Stat(ArtifactFolder(self.path))
        try:
            return await Artifact(self.path).stat(ctx)
        except NotFound:
            if await self._is_folder(ctx):
                return Stat(ArtifactFolder(self.path))
            raise

    async def unlink(self, ctx: FsContext) -> None:
        if self.path in ctx.artifact_dirs:
            raise IsADirectory(f"{self.where} is a directory")
        await Artifact(self.path).unlink(ctx)

    async def mkdir(self, ctx: FsContext) -> Node:
        try:
            await Artifact(self.path).stat(ctx)
        except NotFound:
            pass
        else:
            raise Exists(f"{self.where} is an artifact")
        for i in range(3, len(self.path) + 1):
            ctx.artifact_dirs.add(self.path[:i])
        return ArtifactFolder(self.path)

    async def rmdir(self, ctx: FsContext) -> None:
        has_files = await ctx.run(ctx.project.artifacts.is_folder, self.scope, self.relative)
        if has_files or made_below(ctx, self.path):
            raise NotEmpty(f"{self.where} is not empty")
        if self.path in ctx.artifact_dirs:
            ctx.artifact_dirs.discard(self.path)
            return
        await Artifact(self.path).stat(ctx)  # NotFound when there is nothing here
        raise NotADirectory(f"{self.where} is an artifact")
