"""hf-only behaviour, through the real huggingface_hub client and the stand-in."""

from __future__ import annotations

import logging

import pytest

from tcfs.errors import AccessDenied, InvalidName, NotFound, PreconditionFailed
from tcfs.store.base import best_effort_warning
from tcfs.store.hf import HfStore


@pytest.fixture
def hf(hf_standin):  # type: ignore[no-untyped-def]
    s = hf_standin.store("proj")
    yield s
    s.close()


def test_claims_are_best_effort_and_say_so_once(hf, caplog) -> None:  # type: ignore[no-untyped-def]
    assert hf.conditional_writes is False
    with caplog.at_level(logging.WARNING, logger="tcfs.store.hf"):
        hf.put("steps/s1/claim.json", b"a", if_none_match=True)
        with pytest.raises(PreconditionFailed):
            hf.put("steps/s1/claim.json", b"b", if_none_match=True)
        hf.delete("steps/s1/claim.json", if_match=hf.head("steps/s1/claim.json").etag)
    warnings = [r for r in caplog.records if r.getMessage() == best_effort_warning(HfStore)]
    assert len(warnings) == 1


def test_requests_are_the_real_clients(hf, hf_standin) -> None:  # type: ignore[no-untyped-def]
    before = hf_standin.count("POST", "/batch")
    hf.put("memory/a/b.json", b'{"value": 1}')
    assert hf_standin.count("POST", "/batch") == before + 1
    assert hf_standin.count("POST", "/cas/v1/xorbs/") >= 1  # bytes went through Xet
    assert hf.get("memory/a/b.json").body == b'{"value": 1}'
    # only the Xet client's optional newer endpoints, which it falls back from
    for method, path in hf_standin.unknown:
        assert "/xorb-grants/" in path or path.endswith("/v2/shards"), (method, path)


def test_bad_token_is_access_denied(hf_standin) -> None:  # type: ignore[no-untyped-def]
    bucket = hf_standin.new_bucket()
    store = HfStore(bucket, "proj", endpoint=hf_standin.endpoint, token="hf_wrong")
    with pytest.raises(AccessDenied, match="token"):
        store.head("x")
    with pytest.raises(AccessDenied):
        store.put("x", b"1")


def test_missing_bucket_is_not_found(hf_standin) -> None:  # type: ignore[no-untyped-def]
    store = HfStore("tester/absent", "proj", endpoint=hf_standin.endpoint, token=hf_standin.token)
    with pytest.raises(NotFound):
        store.put("x", b"1")


@pytest.mark.parametrize("bad", ["a\x00b", "a\nb"])
def test_control_characters_refused(hf, bad: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidName):
        hf.put(bad, b"x")
    assert list(hf.list("")) == []
