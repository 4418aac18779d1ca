"""The filesystem layer: the coordination bucket as a FUSE mount.

``nodes`` (pure path -> node) and ``inodes`` (numbers and lookup counts) know
no I/O; ``entries`` and ``handles`` map nodes onto protocol calls; ``core``
ties them into filesystem operations without pyfuse3 types; ``adapter`` is the
thin pyfuse3 layer; ``daemon`` mounts and runs it.  See ``SEMANTICS.md``.
"""
