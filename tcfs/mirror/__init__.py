"""The transcript mirror: copies coding-agent sessions into ``sessions/``.

``tcfs.mirror.adapters`` finds and reads each harness's sessions behind one cursor
interface; ``tcfs.mirror.redact`` scrubs secrets line by line; ``tcfs.mirror.engine``
uploads whole records as immutable parts, with a local state file per stream
that makes a crash at any point neither lose nor duplicate a record.
"""
