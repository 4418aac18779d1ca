"""One module per CLI command; shared option handling in ``common``."""
