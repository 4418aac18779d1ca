"""Artifacts: ``artifacts/<step or shared>/<path>``, raw bytes of any size.

An artifact's name is a relative path (``dir/sub/my report.txt``) and its key
is that path under the scope's prefix, as it is: the CLI lists such keys and
downloads one by that path.  Directories are the prefixes of those keys.
"""

from __future__ import annotations

from typing import BinaryIO

from tcfs import names
from tcfs.errors import InvalidName, NotFound, PreconditionFailed
from tcfs.protocol import keys
from tcfs.store.base import CommonPrefix, ObjectInfo, Store

SHARED = "shared"


def _scope(scope: str) -> str:
    return SHARED if scope == SHARED else names.step_id(scope)


class Artifacts:
    def __init__(self, store: Store, *, journal: str | None = None) -> None:
        self.store = store
        #: where uploads under way are recorded (``Store.put_file``)
        self.journal = journal

    def scopes(self) -> list[str]:
        out = []
        for e in self.store.list(keys.ARTIFACTS_ROOT, delimiter="/"):
            if isinstance(e, CommonPrefix):
                name = keys.child_name(keys.ARTIFACTS_ROOT, e.prefix)
                try:
                    out.append(_scope(name))
                except InvalidName:
                    continue
        return out

    def files(self, scope: str) -> list[ObjectInfo]:
        """The artifacts directly in one scope, keyed by their names."""
        return self.entries(scope)[0]

    def entries(self, scope: str, folder: str = "") -> tuple[list[ObjectInfo], list[str]]:
        """The artifacts directly in ``folder`` (a path below the scope, "" for
        the scope itself), keyed by their names, and the names of the folders
        in it: one delimited LIST."""
        prefix = keys.artifact_scope_prefix(_scope(scope))
        if folder:
            prefix += names.artifact_name(folder) + "/"
        files: list[ObjectInfo] = []
        folders: list[str] = []
        for e in self.store.list(prefix, delimiter="/"):
            name = (
                e.key[len(prefix) :]
                if isinstance(e, ObjectInfo)
                else keys.child_name(prefix, e.prefix)
            )
            try:
                names.artifact_part(name)
            except InvalidName:
                continue
            if isinstance(e, ObjectInfo):
                files.append(ObjectInfo(key=name, size=e.size, etag=e.etag, mtime=e.mtime))
            else:
                folders.append(name)
        return files, folders

    def is_folder(self, scope: str, folder: str) -> bool:
        """Whether any artifact has a name below ``folder`` (a LIST of one page)."""
        prefix = self._key(scope, folder) + "/"
        return next(iter(self.store.list(prefix)), None) is not None

    def _key(self, scope: str, name: str) -> str:
        return keys.artifact_key(_scope(scope), names.artifact_name(name))

    def head(self, scope: str, name: str) -> ObjectInfo:
        info = self.store.head(self._key(scope, name))
        return ObjectInfo(key=name, size=info.size, etag=info.etag, mtime=info.mtime)

    def upload(self, scope: str, name: str, fileobj: BinaryIO, size: int) -> str:
        return self.store.put_file(self._key(scope, name), fileobj, size, journal=self.journal)

    def discard(self, scope: str, name: str, etag: str) -> None:
        """Remove the version ``etag`` of an artifact, if it is still that one."""
        try:
            self.store.delete(self._key(scope, name), if_match=etag)
        except (NotFound, PreconditionFailed):
            pass

    def download(self, scope: str, name: str, fileobj: BinaryIO) -> int:
        return self.store.get_file(self._key(scope, name), fileobj)

    def read(self, scope: str, name: str, offset: int, size: int) -> bytes:
        if size <= 0:
            return b""
        return self.store.get(self._key(scope, name), byte_range=(offset, size)).body

    def delete(self, scope: str, name: str) -> None:
        key = self._key(scope, name)
        self.store.head(key)  # NotFound for an absent artifact, like rm
        self.store.delete(key)
