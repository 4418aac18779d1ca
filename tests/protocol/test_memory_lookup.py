"""A memory lookup on S3: the value's GET and the LIST of keys below it go
together, and a value found answers without waiting for the LIST."""

from __future__ import annotations

import time

from tcfs.protocol import Project
from tcfs.store.s3 import S3Store
from tests.s3server import MotoServer
from tests.store.loopback_proxy import Action, LoopbackProxy, Request

#: how long the proxy holds each LIST: far longer than any GET takes here
HOLD_S = 2.0


def test_a_found_value_answers_before_the_listing_below_it(
    moto_server: MotoServer, s3_bucket: str
) -> None:
    lists: list[Request] = []

    def hook(req: Request) -> Action:
        if "list-type=2" in req.target:
            lists.append(req)
            return Action(delay=HOLD_S)
        return Action()

    proxy = LoopbackProxy(moto_server.port, hook)
    store = S3Store(s3_bucket, "proj", endpoint=proxy.endpoint, path_style=True)
    try:
        p = Project(store, "alice")
        p.memory.set(("a", "k"), "v")
        p.memory.set(("a", "dir", "x"), "below")
        lists.clear()

        found, below = p.memory.lookup(("a", "k"))
        answered_at = time.time()
        assert found is not None and found.value == "v" and below is False
        # the LIST was sent with the GET, and the answer came before the LIST's
        assert len(lists) == 1 and lists[0].t <= answered_at
        assert lists[0].t_done is None or lists[0].t_done > answered_at

        # a name without a value waits for the listing: it is a directory
        missing, below = p.memory.lookup(("a", "dir"))
        assert missing is None and below is True
        assert len(lists) == 2 and lists[1].t_done is not None
        assert lists[1].t_done <= time.time()
    finally:
        store.close()
        proxy.close()
