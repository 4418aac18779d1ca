"""tcfs: a coordination bucket as a filesystem for coding agents."""

__version__ = "0.1.0"
