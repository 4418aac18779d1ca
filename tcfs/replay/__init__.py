"""``tcfs replay``: the project's history as one self-contained HTML page.

``collect`` reads events, transcripts and the chain check through the protocol
layer (never the filesystem); ``page`` assembles the viewer (``static/``) and
its compressed data into one file; ``serve`` keeps it live on loopback.
"""
