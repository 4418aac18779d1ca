"""The filesystem layer: the coordination bucket as a FUSE mount.

``tree`` (the node-type table: which class each path is) and ``inodes``
(numbers and lookup counts) know no I/O; ``kinds`` holds one class per path
kind, mapping its operations onto protocol calls; ``handles`` is how an open
file behaves; ``core`` ties them into filesystem operations without FUSE
types; ``adapter`` is the thin pyfuse3 layer and ``adapter_mfusepy`` the
path-based one for macFUSE (``bindings`` picks one, ``boundary`` turns errors
into errnos for both); ``daemon`` mounts and runs it.
What each path and system call does: ``docs/semantics.md``.
"""
