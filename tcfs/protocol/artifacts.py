"""Artifacts: ``artifacts/<step or shared>/<name>``, raw bytes of any size."""

from __future__ import annotations

from typing import BinaryIO

from tcfs import names
from tcfs.errors import InvalidName
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
        """The artifacts of one scope, keyed by their names (one delimited LIST)."""
        prefix = keys.artifact_scope_prefix(_scope(scope))
        out = []
        for e in self.store.list(prefix, delimiter="/"):
            if isinstance(e, ObjectInfo):
                name = e.key[len(prefix) :]
                try:
                    names.artifact_name(name)
                except InvalidName:
                    continue
                out.append(ObjectInfo(key=name, size=e.size, etag=e.etag, mtime=e.mtime))
        return out

    def _key(self, scope: str, name: str) -> str:
        return keys.artifact_key(_scope(scope), names.artifact_name(name))

    def head(self, scope: str, name: str) -> ObjectInfo:
        info = self.store.head(self._key(scope, name))
        return ObjectInfo(key=name, size=info.size, etag=info.etag, mtime=info.mtime)

    def upload(self, scope: str, name: str, fileobj: BinaryIO, size: int) -> str:
        return self.store.put_file(self._key(scope, name), fileobj, size, journal=self.journal)

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
