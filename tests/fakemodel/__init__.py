"""The fake model server's own tests; the server is in ``tests/support/fakemodel``."""
