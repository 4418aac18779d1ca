"""One self-contained HTML file: the viewer's own HTML, CSS and JS inlined,
the data gzip-compressed and base64-encoded in inert ``<script>`` blocks.

The project's data is one blob decoded at load; each transcript is its own
blob, decoded only when it is opened, so a page with 100 MB of transcripts
opens as fast as one without.  The page's Content-Security-Policy allows no
network access but to its own origin (``--serve``'s polling).
"""

from __future__ import annotations

import base64
import gzip
import json
from importlib import resources

from tcfs.protocol.sessions import SessionReader
from tcfs.replay.collect import Filters, Transcript, collect, transcript
from tcfs.store.base import Store

_STATIC = resources.files("tcfs.replay") / "static"


def _asset(name: str, *, inlined: bool = True) -> str:
    text = (_STATIC / name).read_text(encoding="utf-8")
    if inlined and ("</script" in text.lower() or "</style" in text.lower()):
        raise ValueError(f"{name} must not close its own element")  # would break the page
    return text


def _blob(element_id: str, data: bytes) -> str:
    # base64 has no '<', so the block cannot end early whatever the data holds
    b64 = base64.b64encode(gzip.compress(data, compresslevel=6, mtime=0)).decode("ascii")
    return f'<script type="application/x-tcfs-gz" id="{element_id}">{b64}</script>\n'


def _header(t: Transcript) -> dict[str, object]:
    """Each line's time (ms after ``base``) and the conversation's entries."""
    base = next((s for s in t.ts if s is not None), 0.0)
    stamps = [None if s is None else round((s - base) * 1000) for s in t.ts]
    return {"base": base, "ts": stamps, "conv": [e.to_json() for e in t.conversation]}


def transcript_bytes(t: Transcript) -> bytes:
    """A JSON header line (see ``_header``), then the lines as they are in
    the bucket."""
    head = json.dumps(_header(t), separators=(",", ":"), ensure_ascii=False)
    return (head + "\n" + "\n".join(t.lines)).encode("utf-8", errors="replace")


def transcript_json(t: Transcript) -> dict[str, object]:
    """The same for ``--serve``'s ``/api/session`` answers."""
    return {**_header(t), "lines": t.lines}


def render(
    doc: dict[str, object],
    transcripts: dict[int, Transcript] | None = None,
    *,
    live: bool = False,
) -> str:
    """The page for ``doc`` (a ``Snapshot.to_json()``) and the given transcripts."""
    doc = {**doc, "live": live}
    data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    blobs = [_blob("tcfs-data", data)]
    for n, t in sorted((transcripts or {}).items()):
        blobs.append(_blob(f"tcfs-s-{n}", transcript_bytes(t)))
    html = _asset("viewer.html", inlined=False)
    return (
        html.replace("/*TCFS_CSS*/", _asset("viewer.css"), 1)
        .replace("<!--TCFS_DATA-->", "".join(blobs), 1)
        .replace("/*TCFS_JS*/", _asset("viewer.js"), 1)
    )


def build(store: Store, filters: Filters | None = None, *, transcripts: bool = True) -> str:
    """The whole page for a project: events, chain check, every transcript."""
    snap = collect(store, filters or Filters(), with_sessions=transcripts)
    reader = SessionReader(store)
    texts = {s.n: transcript(reader, s.harness, s.id) for s in snap.sessions if s.size}
    return render(snap.to_json(), texts)
