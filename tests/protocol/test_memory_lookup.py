"""A memory lookup on S3: the value's GET and the LIST of keys below it go
together, and a value found answers without waiting for the LIST; a key the
agent has seen hold a value is asked with the GET alone."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tcfs.protocol import Project
from tcfs.store.s3 import S3Store
from tests.support.loopback_proxy import Action, LoopbackProxy, Request
from tests.support.s3server import MotoServer

#: how long the proxy holds each LIST: far longer than any GET takes here
HOLD_S = 2.0


@contextmanager
def store_behind(
    moto_server: MotoServer, bucket: str, hook: Callable[[Request], Action]
) -> Iterator[S3Store]:
    """An S3 store whose requests pass ``hook`` on their way to moto."""
    proxy = LoopbackProxy(moto_server.port, hook)
    store = S3Store(bucket, "proj", endpoint=proxy.endpoint, path_style=True)
    try:
        yield store
    finally:
        store.close()
        proxy.close()


def test_a_found_value_answers_before_the_listing_below_it(
    moto_server: MotoServer, s3_bucket: str
) -> None:
    lists: list[Request] = []

    def hook(req: Request) -> Action:
        if "list-type=2" in req.target:
            lists.append(req)
            return Action(delay=HOLD_S)
        return Action()

    with store_behind(moto_server, s3_bucket, hook) as store:
        writer = Project(store, "alice")
        writer.memory.set(("a", "k"), "v")
        writer.memory.set(("a", "dir", "x"), "below")
        lists.clear()

        p = Project(store, "bob")  # another agent: it has seen none of these keys
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


def test_a_key_seen_holding_a_value_is_looked_up_with_its_get_alone(
    moto_server: MotoServer, s3_bucket: str
) -> None:
    sent: list[Request] = []

    def hook(req: Request) -> Action:
        sent.append(req)
        return Action()

    with store_behind(moto_server, s3_bucket, hook) as store:
        other = Project(store, "alice")
        other.memory.set(("a", "k"), "v1")
        other.memory.set(("a", "listed"), "in a listing")
        p = Project(store, "bob")

        def lookup(key: tuple[str, ...]) -> tuple[object, bool, list[str]]:
            sent.clear()
            found, below = p.memory.lookup(key)
            time.sleep(0.3)  # a LIST sent beside the GET has reached the proxy by now
            lists = ["LIST" if "list-type=2" in r.target else r.method for r in sent]
            return (found.value if found else None), below, sorted(lists)

        assert lookup(("a", "k")) == ("v1", False, ["GET", "LIST"])  # first look: both
        other.memory.set(("a", "k"), "v2")
        assert lookup(("a", "k")) == ("v2", False, ["GET"])  # seen: the GET alone, fresh
        # gone and now a directory of keys: the GET misses, the LIST follows and decides
        other.memory.delete(("a", "k"))
        other.memory.set(("a", "k", "x"), "below")
        assert lookup(("a", "k")) == (None, True, ["GET", "LIST"])
        assert lookup(("a", "k")) == (None, True, ["GET", "LIST"])  # no longer a hint
        # a value the agent listed or wrote itself counts as seen
        p.memory.entries(("a",))
        assert lookup(("a", "listed")) == ("in a listing", False, ["GET"])
        p.memory.set(("a", "mine"), "v")
        assert lookup(("a", "mine")) == ("v", False, ["GET"])
        # deleted by this agent: not a hint any more, and the answer is "nothing"
        p.memory.delete(("a", "mine"))
        assert lookup(("a", "mine")) == (None, False, ["GET", "LIST"])
