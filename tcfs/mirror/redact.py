"""Redaction: scrub credentials from transcript lines before they leave the machine.

It runs on whole lines only (the mirror never uploads a partial line), so a
secret cannot be split across two parts.  Each match becomes
``[REDACTED:<kind>]`` and is counted per kind; the counts go into meta.json.

What it catches: AWS access key ids and secret access keys, Anthropic, OpenAI,
Hugging Face, GitHub (classic and fine-grained) and Slack tokens, JWTs,
``Bearer`` credentials in any case, PEM private key blocks (inside one JSON
string or as raw lines), and ``NAME=value`` / ``"name": "value"`` /
``name_with_parts: value`` assignments whose name says secret, token,
password, passwd, pwd, api_key, key or credential.  The value decides too: a
name that only ends in ``key`` (``idempotencyKey``, a bare ``key``) is
redacted only when its value is credential-shaped (one long, mixed, random
token; not a UUID-based or ``a:b:c`` id), and templates, sequences and plain
numbers are never secrets (the heuristics of Yelp's detect-secrets).  Token shapes are anchored
at word boundaries, so ``task-ABCDEFGHIJKLMNOPQRSTUVWX`` stays intact.

A JSON line stays JSON: replacements never swallow a quote or a backslash,
and if one ever would, the line is decoded and its strings are redacted one by
one instead.  This is a denylist of known shapes, not a DLP system.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any, NamedTuple

PEM_MAX_LINES = 200  # a raw PEM block never spans more lines than this

# ---------- token shapes: the whole match is replaced ----------

_TOKENS: list[tuple[str, re.Pattern[str]]] = [
    (
        "pem_private_key",
        re.compile(
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----"
            r"(?:[^\"]*?-----END[A-Z0-9 ]*PRIVATE KEY-----|[^\"]*)"
        ),
    ),
    (
        "jwt",
        re.compile(
            r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
        ),
    ),
    ("aws_access_key", re.compile(r"(?<![A-Za-z0-9])AKIA[0-9A-Z]{16}(?![A-Za-z0-9])")),
    ("aws_session_token", re.compile(r"(?<![A-Za-z0-9])ASIA[0-9A-Z]{16}(?![A-Za-z0-9])")),
    ("anthropic_key", re.compile(r"(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,}")),
    (
        "openai_key",
        re.compile(r"(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    ),
    ("hf_token", re.compile(r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,}")),
    ("github_fine_grained_pat", re.compile(r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,}")),
    ("github_pat", re.compile(r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{30,}")),
    ("slack_token", re.compile(r"(?<![A-Za-z0-9_])xox[abprs]-[A-Za-z0-9-]{10,}")),
    ("bearer_token", re.compile(r"(?i)(?<![A-Za-z0-9_])bearer\s+[A-Za-z0-9_.~+/=-]{20,}")),
]

# ---------- assignments: the name and operator stay, the value goes ----------

_AWS_SECRET = re.compile(
    r"(?<![A-Za-z0-9_])(?P<name>(?i:aws_?secret_?access_?key|aws_?secret_?key|"
    r"secret_?access_?key|aws_?secret))"
    r"(?P<op>\\?[\"']?\s*[:=]\s*\\?[\"']?)(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
)

_WORDS = r"secret|token|passw(?:or)?d|pwd|api_?key|key|credentials?"
_SNAKE = rf"(?:[A-Za-z0-9]+[_.-])*(?i:{_WORDS})"
_CAMEL = r"[a-z][A-Za-z0-9]*?(?:Secret|Token|Password|Passwd|Pwd|Key|Credentials?)"
_NAME = rf"(?:{_SNAKE}|{_CAMEL})"
_MULTI = rf"(?:[A-Za-z0-9]+[_-])+(?i:{_WORDS})"  # snake/kebab with at least two parts
_BARE = r"[^\s\"'\\,;&|<>()\[\]{}`]"

_ASSIGNMENTS: list[re.Pattern[str]] = [
    # "name": "value"  and, inside a JSON string,  \"name\": \"value\"
    re.compile(rf"(?<=\")(?P<name>{_NAME})(?P<op>\\?\"\s*:\s*\\?\")(?P<value>[^\"\\]+)(?=\\?\")"),
    # NAME=value, --name=value, NAME="value"
    re.compile(
        rf"(?:(?<=--)|(?<![A-Za-z0-9_.-]))(?P<name>{_NAME})(?P<op>=\\?[\"']?)(?P<value>{_BARE}+)"
    ),
    # name_part: value  (YAML-ish; single words like "password:" in prose are left alone)
    re.compile(rf"(?<![A-Za-z0-9_.-])(?P<name>{_MULTI})(?P<op>:[ \t]+)(?P<value>{_BARE}{{4,}})"),
]
_HINTS = ("secret", "token", "passw", "pwd", "key", "credential")
_PLACEHOLDER = re.compile(
    r"(?i)^(?:\[redacted.*|\$.*|\{\{.*|<.*>|\*+|x+|\.+|null|none|true|false|undefined|"
    r"changeme|redacted|example|your[_-].*|\d{1,5})$"
)

#: what a ``credential`` field names rather than holds: a kind of credential
#: (``"credential": "key"``, ``"oauth"``, ``"api_key"``), a short lowercase word
_CREDENTIAL_KIND = re.compile(r"[a-z]{1,16}(?:[_-][a-z]{1,16}){0,2}")
_CREDENTIAL_NAME = re.compile(r"(?i)credentials?(?:[_-]?(?:type|kind|source))?")

_PEM_BEGIN_EOL = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----\s*$")
_PEM_END = re.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY-----")


def _marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


# A name ending in "key" says secret only with one of these before it; any
# other ``*Key`` / bare ``key`` (idempotencyKey, cacheKey, sort_key) names a
# lookup key, and its value must look like a credential to be redacted.
_STRONG_KEY = re.compile(
    r"(?i)(?:api|secret|access|private|auth|client|encryption|signing|master|license|"
    r"account|service|deploy|ssh|gpg|session_?secret)[_.-]?key$"
)
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9+/=_-]+")
_STRUCTURED_ID = re.compile(r"^[\w.-]+(?::[\w.-]+)+$")  # tool:call_9de6:1796108876687
WEAK_MIN_LEN = 20
WEAK_MIN_ENTROPY = 3.5  # bits per character, over the base64 alphabet


class _Heuristics(NamedTuple):
    """detect-secrets' false-positive filters and its entropy measure."""

    not_a_secret: Callable[[str], bool]
    identifier: Callable[[str], bool]
    entropy: Callable[[str], float]


@functools.cache
def _heuristics() -> _Heuristics | None:
    """Imported on first use: detect-secrets takes a while to import, and a
    hook's bare interpreter (no site packages, for start-up) has none.  Without
    it every value under a secret-sounding name is redacted (too much, never too
    little)."""
    try:
        from detect_secrets.filters import heuristic
        from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString
    except ImportError:
        return None
    b64 = Base64HighEntropyString()
    return _Heuristics(
        # templates, sequences, plain numbers: no name makes them secret
        not_a_secret=lambda v: bool(
            heuristic.is_templated_secret(v) or heuristic.is_sequential_string(v) or v.isdigit()
        ),
        # lookup-key shapes: built from a UUID, or ``a:b:c`` segments
        identifier=lambda v: bool(heuristic.is_potential_uuid(v) or _STRUCTURED_ID.match(v)),
        entropy=b64.calculate_shannon_entropy,
    )


def _credential_shaped(value: str, h: _Heuristics) -> bool:
    """One token of base64/url-safe characters, long, random and mixed."""
    return (
        len(value) >= WEAK_MIN_LEN
        and bool(_TOKEN_CHARS.fullmatch(value))
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and h.entropy(value) >= WEAK_MIN_ENTROPY
    )


def _keep_value(name: str, value: str) -> bool:
    """True when the value of a secret-sounding name is not a secret.

    Decided by the value's shape, not the name alone: placeholders and
    variable references stay, identifiers stay, and a name that only *ends*
    in ``key`` (``idempotencyKey``, a bare ``key``) keeps anything that does
    not look like a credential (``"key": "Enter"``), and a ``credential``
    field keeps a lowercase word naming its kind (``"credential": "key"``)."""
    v = value.strip()
    if _PLACEHOLDER.match(v):
        return True
    if _CREDENTIAL_NAME.fullmatch(name) and _CREDENTIAL_KIND.fullmatch(v):
        return True  # a label (Claude Code's api-request-route), not a secret
    h = _heuristics()
    if h is None:
        return False
    if h.not_a_secret(v):
        return True
    if name.lower().endswith("key") and not _STRONG_KEY.search(name):
        return h.identifier(v) or not _credential_shaped(v, h)
    return False


def redact_text(text: str, counts: Counter[str]) -> str:
    """Redact one line (or one JSON string value) of text."""
    for kind, pat in _TOKENS:
        text, n = pat.subn(_marker(kind), text)
        if n:
            counts[kind] += n

    def assign(kind: str) -> Callable[[re.Match[str]], str]:
        def repl(m: re.Match[str]) -> str:
            if _keep_value(m.group("name"), m.group("value")):
                return m.group(0)
            counts[kind] += 1
            return m.group("name") + m.group("op") + _marker(kind)

        return repl

    lowered = text.lower()
    if "secret" in lowered:
        text = _AWS_SECRET.sub(assign("aws_secret_key"), text)
    if any(h in lowered for h in _HINTS):
        for pat in _ASSIGNMENTS:
            text = pat.sub(assign("secret_assignment"), text)
    return text


def _redact_json(value: Any, counts: Counter[str]) -> Any:
    """Structural fallback: redact every string of a decoded JSON document."""
    if isinstance(value, str):
        return redact_text(value, counts)
    if isinstance(value, list):
        return [_redact_json(v, counts) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(v, str) and re.fullmatch(_NAME, k) and not _keep_value(k, v):
                counts["secret_assignment"] += 1
                out[k] = _marker("secret_assignment")
            else:
                out[k] = _redact_json(v, counts)
        return out
    return value


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


class Redactor:
    """Redacts a stream of whole lines; remembers an open raw PEM block across
    calls (``state`` goes into the stream's local state file)."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        pem = (state or {}).get("pem")
        self.pem_lines: int | None = pem if isinstance(pem, int) else None

    @property
    def state(self) -> dict[str, Any]:
        return {"pem": self.pem_lines}

    def redact(self, data: bytes) -> tuple[bytes, dict[str, int]]:
        counts: Counter[str] = Counter()
        out: list[bytes] = []
        for raw in data.splitlines(keepends=True):
            body = raw.rstrip(b"\r\n")
            end = raw[len(body) :]
            line = body.decode("utf-8", "surrogateescape")
            out.append(self._line(line, counts).encode("utf-8", "surrogateescape") + end)
        return b"".join(out), dict(counts)

    def _line(self, line: str, counts: Counter[str]) -> str:
        if self.pem_lines is not None:
            m = _PEM_END.search(line)
            if m is None and self.pem_lines < PEM_MAX_LINES:
                self.pem_lines += 1
                return ""
            self.pem_lines = None
            if m is None:
                return redact_text(line, counts)
            line = line[m.end() :]
        m = _PEM_BEGIN_EOL.search(line)
        if m is not None:
            counts["pem_private_key"] += 1
            self.pem_lines = 0
            return redact_text(line[: m.start()], counts) + _marker("pem_private_key")
        line_counts: Counter[str] = Counter()
        redacted = redact_text(line, line_counts)
        if (
            line_counts
            and line.lstrip()[:1] in ("{", "[")
            and not _is_json(redacted)
            and _is_json(line)
        ):
            # a replacement broke the JSON: redact string by string instead
            line_counts = Counter()
            redacted = json.dumps(_redact_json(json.loads(line), line_counts), ensure_ascii=False)
        counts.update(line_counts)
        return redacted


def redact(data: bytes) -> tuple[bytes, dict[str, int]]:
    """Redact whole lines with a fresh state (one-shot helper)."""
    return Redactor().redact(data)
