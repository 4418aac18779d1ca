"""Text written through the shell."""

from __future__ import annotations


def strip_newline(text: str) -> str:
    """``echo x >`` stores "x": one trailing newline is the shell's, not the value's."""
    return text[:-1] if text.endswith("\n") else text
