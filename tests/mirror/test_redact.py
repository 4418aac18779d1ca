"""The redaction corpus: every kind is caught, look-alikes are left alone."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid

import pytest

from tcfs.mirror.redact import Redactor, redact
from tests.support.mirroring import Homes, mirror_once, transcript
from tests.support.secrets import JSON_SECRETS, PEM, RSA_BODY, SECRETS
from tests.support.sessions import ClaudeSession, append

ORDINARY = [
    str(uuid.UUID(int=0x9999AAAA_AAAA_4AAA_AAAA_AAAAAAAAAAAA)),
    "commit 3f786850e387550fdab836ed7e6dc881de23001b (HEAD -> main)",
    "task-ABCDEFGHIJKLMNOPQRSTUVWX is done; next: task-ZYXWVUTSRQPONMLKJIHGFEDCBA",
    "ask-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123 risk-ABCDEFGHIJKLMNOPQRSTUVWXYZ disk-0123456789abcdefghijk",
    "The token was rotated, so pass the new key to the service and keep the secret safe.",
    "Use a password manager; the API key goes in the settings page, never in a token file.",
    "my monkey=bananas and keyboard=qwerty and turkey=roast",
    "set key=value pairs; the key: is a label",
    "bearer of bad news",
    "ARN arn:aws:iam::123456789012:role/Admin and hash sha256:" + hashlib.sha256(b"x").hexdigest(),
    "TOKEN=$GITHUB_TOKEN PASSWORD=${DB_PASSWORD} api_key=<your-key> secret=*** key=changeme",
    json.dumps(
        {
            "type": "image",
            "source": {
                "type": "base64",
                "media_type": "image/png",
                "data": base64.b64encode(
                    os.urandom(0) + hashlib.sha512(b"img").digest() * 40
                ).decode(),
            },
        }
    ),
    json.dumps(
        {
            "usage": {"input_tokens": 12, "output_tokens": 40, "cache_read_input_tokens": 9000},
            "max_tokens": 4096,
            "key": "Enter",
            "token_count": 5,
            "keys": ["a", "b"],
        }
    ),
    json.dumps(
        {
            "id": "toolu_01QxYzAbCdEfGhIjKlMnOpQr",
            "name": "Bash",
            "input": {"command": "git log -1 --format=%H"},
        }
    ),
    json.dumps(
        {
            "message": {"id": "msg_01XyzAbCdEfGhIjKlMnOpQrSt", "model": "claude-sonnet-4-5"},
            "requestId": "req_011CAbcdefghijklmnop",
            "uuid": str(uuid.uuid4()),
        }
    ),
    "sk-ant is a prefix; sk-short; hf_short; ghp_short; AKIA1234; eyJhbGciOiJIUzI1NiJ9 alone",
    "line with unicode é ü 日本語 and emoji 🎉",
    # ids OpenClaw writes under names ending in Key, and a bare key
    json.dumps({"idempotencyKey": "a45a8beb-1c2d-4e5f-8a9b-0c1d2e3f4a5b:user"}),
    json.dumps({"key": "tool:call_9de6f73b4d3a4c1e9f2b6a7c:1796108876687"}),
    json.dumps({"sessionKey": "agent:main:explicit:conformance", "sortKey": "2026-12-01"}),
    json.dumps({"key": "ctrl+shift+p", "cacheKey": "v1/models/list"}),
]


@pytest.mark.parametrize(("kind", "secret", "line"), SECRETS)
def test_each_token_kind_is_caught(kind: str, secret: str, line: str) -> None:
    out, counts = redact(line.encode() + b"\n")
    assert secret.encode() not in out
    assert counts.get(kind, 0) >= 1, (counts, out)
    assert f"[REDACTED:{kind}]".encode() in out


@pytest.mark.parametrize(("kind", "secret", "doc"), JSON_SECRETS)
def test_json_lines_stay_json(kind: str, secret: str, doc: dict) -> None:
    line = json.dumps(doc).encode() + b"\n"
    out, counts = redact(line)
    assert secret.encode() not in out
    assert counts.get(kind, 0) >= 1, (counts, out)
    json.loads(out)  # still one valid JSON document


def test_ordinary_lines_are_untouched_byte_for_byte() -> None:
    data = "\n".join(ORDINARY).encode() + b"\n"
    out, counts = redact(data)
    assert counts == {}
    assert out == data


def test_a_credential_field_naming_its_kind_is_a_label_not_a_secret() -> None:
    """Claude Code (2.1.337 on) logs which credential a request used: the
    word is kept; a credential's value under the same name is not."""
    route = {"type": "api-request-route", "route": "anthropic", "credential": "key"}
    line = json.dumps(route).encode() + b"\n"
    assert redact(line) == (line, {})
    for value in ("hunter2-Secret9", "Xk9fP2qLm8zQ", "a b"):
        out, counts = redact(json.dumps({"credential": value}).encode() + b"\n")
        assert value.encode() not in out and counts == {"secret_assignment": 1}, out


def test_non_utf8_bytes_pass_through() -> None:
    data = b"\xff\xfe raw \x80 AKIAIOSFODNN7EXAMPLE \xc3\n"
    out, counts = redact(data)
    assert out == b"\xff\xfe raw \x80 [REDACTED:aws_access_key] \xc3\n"
    assert counts == {"aws_access_key": 1}


def test_raw_pem_block_across_calls() -> None:
    r = Redactor()
    lines = ["start", *PEM.splitlines(), "after"]
    first, c1 = r.redact(("\n".join(lines[:4]) + "\n").encode())
    state = r.state
    second, c2 = Redactor(state).redact(("\n".join(lines[4:]) + "\n").encode())
    out = first + second
    for body_line in RSA_BODY.splitlines():
        assert body_line.encode() not in out
    assert out.startswith(b"start\n[REDACTED:pem_private_key]\n")
    assert out.endswith(b"\nafter\n")
    assert c1 == {"pem_private_key": 1} and c2 == {}


def test_secret_written_across_two_flushes_is_caught(homes: Homes, local_store) -> None:
    """The writer appends half a line, the mirror runs, then the rest follows."""
    s = ClaudeSession(homes.home / ".claude", homes.project)
    s.add(2)
    line = json.dumps(
        {
            "type": "user",
            "sessionId": s.sid,
            "cwd": s.cwd,
            "message": {"content": "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE ok"},
        }
    )
    cut = line.index("AKIA") + 8  # the key is split in the middle
    append(s.path, line[:cut].encode())
    assert mirror_once(local_store, "claude-code", homes.project) == 1
    assert b"AKIA" not in transcript(local_store, "claude-code", s.sid)
    append(s.path, line[cut:].encode() + b"\n")
    assert mirror_once(local_store, "claude-code", homes.project) == 1
    got = transcript(local_store, "claude-code", s.sid)
    assert b"AKIAIOSFODNN" not in got and b"IOSFODNN7EXAMPLE" not in got
    assert got.count(b"[REDACTED:aws_access_key]") == 1
    meta = json.loads(local_store.get(f"sessions/claude-code/{s.sid}/meta.json").body)
    assert meta["redaction_counts"] == {"aws_access_key": 1}
    for line_out in got.splitlines():
        json.loads(line_out)


def test_no_redact_uploads_verbatim(homes: Homes, local_store) -> None:
    s = ClaudeSession(homes.home / ".claude", homes.project)
    raw = s.add(1, text="AKIAIOSFODNN7EXAMPLE")
    mirror_once(local_store, "claude-code", homes.project, redact=False)
    assert transcript(local_store, "claude-code", s.sid) == raw


def test_without_detect_secrets_every_named_value_is_redacted() -> None:
    """A hook's bare interpreter (``python -I -S``) has no site packages: the
    redactor must still work there, import nothing heavy, and err towards
    redacting."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(root)!r})\n"
        "from collections import Counter\n"
        "from tcfs.mirror.redact import redact_text\n"
        "out = redact_text(sys.stdin.read(), Counter())\n"
        "print(json.dumps({'out': out, 'ds': 'detect_secrets' in sys.modules}))\n"
    )
    text = 'key=AKIAABCDEFGHIJKLMNOP "idempotencyKey": "a45a8beb-1c2d:user" api_key=hunter2-x'
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["ds"] is False
    assert "AKIAABCDEFGHIJKLMNOP" not in got["out"]
    assert "hunter2" not in got["out"]
    assert "a45a8beb" not in got["out"]  # too much, never too little, without the filters
