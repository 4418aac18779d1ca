"""What a harness's own safety settings need, beyond its hooks, for its agent
to use the mount from its shell tool: permission rules, writable roots or
external-directory grants scoped to the mount, and the project trust its
hooks need.  Never a blanket bypass.

Each harness declares its grants as ``Change``s: a member of a JSON settings
file (an array element or an object member), or a marked block of a text
file (TOML).  ``apply`` makes them and records exactly what it added (and
which containers it created) in tcfs's own state, so ``revoke`` takes back
exactly that and nothing of the user's.  The files and folders an install
created are recorded apart (``remember_created``) and removed once they hold
nothing (``remove_created``): install then uninstall leaves every file as it
was, byte for byte, or absent if it was absent.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tcfs.hooks import hookfile, jsonedit, markedblock
from tcfs.hooks.hookfile import SettingsError
from tcfs.hooks.jsonedit import JSONValue


@dataclass(frozen=True)
class JsonMember:
    """``value`` in the container at ``path`` of a JSON file: an array
    element (``key`` None) or the object member ``key``."""

    file: str
    path: tuple[str, ...]
    key: str | None
    value: JSONValue
    what: str  # one line for the user: what this grants

    @property
    def container_kind(self) -> type:
        return list if self.key is None else dict


@dataclass(frozen=True)
class TextBlock:
    """A marked block at the end of a text file (``markedblock``)."""

    file: str
    tag: str
    content: str
    what: str
    #: the user's own text already holding this section: refuse, show the lines
    conflict: str | None = None


Change = JsonMember | TextBlock
#: one made change in tcfs's record (JSON: the ``_Made`` fields)
Record = dict[str, Any]


@dataclass
class _Made:
    """What one apply added, as recorded: the change, and which containers."""

    change: Record
    #: how many leading path parts already existed (the rest were created)
    existing_depth: int = 0


def _state_file() -> Path:
    from tcfs.config import tcfs_home

    return tcfs_home() / "hooks" / "grants.json"


def _load() -> dict[str, list[Record]]:
    try:
        doc = json.loads(_state_file().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SettingsError(
            f"{_state_file()}: cannot read tcfs's record of grants ({exc})"
        ) from None
    return doc if isinstance(doc, dict) else {}


def _save(doc: dict[str, list[Record]]) -> None:
    """tcfs's own record, written apart from what an install records as made."""
    path = _state_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.chmod(0o600)
    os.replace(tmp, path)


def _doc(c: Change) -> Record:
    """A change as tcfs's record keeps it (JSON: tuples become lists)."""
    doc: Record = json.loads(json.dumps(asdict(c)))
    return doc


# ---------- JSON members ----------


def _find(text: str, path: Path, parts: tuple[str, ...]) -> tuple[jsonedit.Node, int]:
    """The deepest existing container along ``parts`` and how deep it is."""
    try:
        node = jsonedit.parse(text)
    except jsonedit.MalformedJSON as exc:
        raise SettingsError(f"{path} is not valid JSON ({exc}); nothing was changed") from None
    depth = 0
    for part in parts:
        if not node.is_object:
            break
        child = node.get(part)
        if child is None:
            break
        node, depth = child, depth + 1
    return node, depth


def _nest(parts: tuple[str, ...], inner: JSONValue) -> JSONValue:
    for part in reversed(parts):
        inner = {part: inner}
    return inner


def _has(node: jsonedit.Node, c: JsonMember) -> bool:
    if c.key is None:
        return isinstance(node.value, list) and c.value in node.value
    return isinstance(node.value, dict) and node.value.get(c.key) == c.value


def _apply_json(c: JsonMember) -> _Made | None:
    path = Path(c.file)
    original = hookfile.read(path)
    text = original if original is not None and original.strip() else "{}\n"
    node, depth = _find(text, path, c.path)
    if depth == len(c.path):
        if _has(node, c):
            return None  # already there (the user's own, or an earlier install's)
        if not isinstance(node.value, c.container_kind):
            raise SettingsError(
                f"{path}: {'.'.join(c.path)} is not a{'n array' if c.key is None else 'n object'}"
                f"; nothing was changed. To allow it by hand: {c.what}"
            )
        text = jsonedit.append(text, node, c.value, key=c.key)
    else:
        if not node.is_object:
            raise SettingsError(f"{path}: {'.'.join(c.path[:depth])} is not an object")
        leaf: JSONValue = [c.value] if c.key is None else {c.key: c.value}
        text = jsonedit.append(text, node, _nest(c.path[depth + 1 :], leaf), key=c.path[depth])
    hookfile.write(path, text)
    return _Made(_doc(c), depth)


def _revoke_json(c: JsonMember, made: _Made) -> None:
    path = Path(c.file)
    text = hookfile.read(path)
    if text is None:
        return
    node, depth = _find(text, path, c.path)
    if depth == len(c.path) and _has(node, c):
        if c.key is None:
            index = next(i for i, item in enumerate(node.items) if item.node.value == c.value)
        else:
            index = next(
                i
                for i, item in enumerate(node.items)
                if item.key == c.key and item.node.value == c.value
            )
        text = jsonedit.remove(text, node, index)
    # the containers this grant made go when they hold nothing else
    for keep in range(len(c.path) - 1, made.existing_depth - 1, -1):
        inner, d = _find(text, path, c.path[: keep + 1])
        if d != keep + 1 or inner.items:
            break
        parent, _ = _find(text, path, c.path[:keep])
        index = next(i for i, item in enumerate(parent.items) if item.key == c.path[keep])
        text = jsonedit.remove(text, parent, index)
    hookfile.write(path, text)


# ---------- text blocks ----------


def _apply_block(c: TextBlock) -> _Made | None:
    path = Path(c.file)
    conflict = re.compile(c.conflict, re.MULTILINE) if c.conflict else None
    if not markedblock.install(path, c.tag, c.content, conflict):
        return None
    return _Made(_doc(c))


def _revoke_block(c: TextBlock) -> None:
    markedblock.uninstall(Path(c.file), c.tag)


# ---------- the record ----------


def _change(doc: Record) -> Change:
    if "tag" in doc:
        return TextBlock(**doc)
    return JsonMember(**{**doc, "path": tuple(doc["path"])})


def _present(c: Change) -> bool:
    """Whether the file still holds the change as made."""
    path = Path(c.file)
    if isinstance(c, TextBlock):
        return markedblock.body(path, c.tag) == c.content
    text = hookfile.read(path)
    if text is None:
        return False
    node, depth = _find(text, path, c.path)
    return depth == len(c.path) and _has(node, c)


def _revoke(entry: Record) -> str:
    made = _Made(**entry)
    c = _change(made.change)
    if isinstance(c, JsonMember):
        _revoke_json(c, made)
    else:
        _revoke_block(c)
    return c.what


def apply(owner: str, changes: list[Change]) -> list[str]:
    """Make ``owner``'s grants (a harness in one scope) exactly ``changes``:
    what is in place stays untouched (twice is a no-op), what it no longer
    needs is taken back, the rest is made.  Returns what was made now."""
    doc = _load()
    record = doc.get(owner, [])
    wanted = [_doc(c) for c in changes]
    keep = [e for e in record if e["change"] in wanted and _present(_change(e["change"]))]
    for entry in reversed(record):
        if entry not in keep:
            _revoke(entry)
    have = [e["change"] for e in keep]
    done = []
    for c in changes:
        if _doc(c) in have:
            continue
        made = _apply_json(c) if isinstance(c, JsonMember) else _apply_block(c)
        if made is not None:
            keep.append(asdict(made))
            done.append(c.what)
    if keep:
        doc[owner] = keep
    else:
        doc.pop(owner, None)
    if keep != record:
        _save(doc)
    return done


def revoke(owner: str) -> list[str]:
    """Take back what ``apply`` made for ``owner``, newest first."""
    doc = _load()
    record = doc.pop(owner, [])
    taken = [_revoke(entry) for entry in reversed(record)]
    if record:
        _save(doc)
    return taken


def granted(owner: str) -> list[str]:
    """What is in place for ``owner``, as recorded."""
    return [_change(e["change"]).what for e in _load().get(owner, [])]


# ---------- files and folders an install created ----------


def _vacant(text: str) -> bool:
    """Nothing of anyone's in it: empty, or JSON of empty containers only
    (what an install started a file from, once uninstall took its part)."""

    def empty(value: object) -> bool:
        if isinstance(value, dict):
            return all(empty(v) for v in value.values())
        return isinstance(value, list) and not value

    if not text.strip():
        return True
    try:
        return empty(json.loads(text))
    except ValueError:
        return False


def remember_created(owner: str, paths: list[Path]) -> None:
    """Add to ``owner``'s record the files and folders an install created."""
    if not paths:
        return
    doc = _load()
    key = f"{owner} created"
    known = [e["path"] for e in doc.get(key, [])]
    doc[key] = doc.get(key, []) + [{"path": str(p)} for p in paths if str(p) not in known]
    _save(doc)


def remove_created(owner: str) -> None:
    """Remove what an install created and uninstall emptied, newest first:
    a file holding nothing, a folder holding no file."""
    doc = _load()
    record = doc.pop(f"{owner} created", [])
    for entry in reversed(record):
        path = Path(entry["path"])
        try:
            if path.is_dir():
                path.rmdir()
            elif _vacant(path.read_text(encoding="utf-8")):
                path.unlink()
        except (OSError, UnicodeDecodeError):
            continue  # something of the user's is there now: it stays
    if record:
        _save(doc)
