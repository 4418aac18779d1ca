"""The redaction corpus: secrets of each kind, in the lines and JSON documents
they turn up in, for the redaction tests and the real sessions' mirror tests."""

from __future__ import annotations

import base64
import hashlib
import json

RSA_BODY = "\n".join(
    base64.b64encode(hashlib.sha512(str(i).encode()).digest()[:48]).decode() for i in range(8)
)
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{RSA_BODY}\n-----END RSA PRIVATE KEY-----"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

# (kind, secret text that must disappear, the line it appears in)
SECRETS: list[tuple[str, str, str]] = [
    ("aws_access_key", "AKIAIOSFODNN7EXAMPLE", "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE"),
    ("aws_session_token", "ASIAIOSFODNN7EXAMPLE", "id ASIAIOSFODNN7EXAMPLE used"),
    ("aws_secret_key", AWS_SECRET, f"aws_secret_access_key = {AWS_SECRET}"),
    ("aws_secret_key", AWS_SECRET, f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}"),
    (
        "anthropic_key",
        "sk-ant-api03-AbCdEf_GhIjKlMnOpQrStUvWxYz-0123456789",
        "key sk-ant-api03-AbCdEf_GhIjKlMnOpQrStUvWxYz-0123456789 here",
    ),
    (
        "openai_key",
        "sk-proj-Ab_Cd-Ef0123456789abcdefghijKLMNOP_qrst-uv",
        "OPENAI sk-proj-Ab_Cd-Ef0123456789abcdefghijKLMNOP_qrst-uv done",
    ),
    (
        "openai_key",
        "sk-abcdefghijklmnopqrstuvwxyz012345",
        "use sk-abcdefghijklmnopqrstuvwxyz012345",
    ),
    (
        "hf_token",
        "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",
        "HF hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",
    ),
    (
        "github_pat",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "gh ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    ),
    (
        "github_fine_grained_pat",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTU",
        "token github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789"
        "ABCDEFGHIJKLMNOPQRSTU end",
    ),
    ("slack_token", "xoxb-123456789012-abcdefghijkl", "slack xoxb-123456789012-abcdefghijkl"),
    (
        "bearer_token",
        "abcdefghijklmnopqrstuvwxyz0123",
        "Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123",
    ),
    (
        "bearer_token",
        "abcdefghijklmnopqrstuvwxyz0123",
        "authorization: bearer abcdefghijklmnopqrstuvwxyz0123",
    ),
    ("bearer_token", "abcdefghijklmnopqrstuvwxyz0123", "BEARER abcdefghijklmnopqrstuvwxyz0123"),
    ("jwt", JWT, f"cookie session={JWT}; path=/"),
    ("secret_assignment", "hunter22!x", "PASSWORD=hunter22!x ./run"),
    ("secret_assignment", "s3cr3t-value", "db_password: s3cr3t-value"),
    ("secret_assignment", "abc123def456", "curl https://x.test/?token=abc123def456"),
    ("secret_assignment", "zz9plural", "--api-key=zz9plural"),
]

JSON_SECRETS: list[tuple[str, str, dict]] = [
    ("secret_assignment", "correct-horse", {"password": "correct-horse", "user": "bob"}),
    ("secret_assignment", "Zm9vYmFyYmF6", {"apiKey": "Zm9vYmFyYmF6"}),
    ("secret_assignment", "tok_live_abcdef", {"client_secret": "tok_live_abcdef"}),
    ("aws_secret_key", AWS_SECRET, {"Credentials": {"SecretAccessKey": AWS_SECRET}}),
    ("pem_private_key", RSA_BODY.splitlines()[3], {"content": f"here:\n{PEM}\nthanks"}),
    (
        "secret_assignment",
        "n3sted-pass",
        {"content": json.dumps({"db_password": "n3sted-pass", "port": 5432})},
    ),
    (
        "openai_key",
        "sk-svcacct-ABCDEFGHIJKLMNOPQRSTUVWX_yz-1234",
        {
            "type": "tool_result",
            "content": "OPENAI_API_KEY=sk-svcacct-ABCDEFGHIJKLMNOPQRSTUVWX_yz-1234",
        },
    ),
    ("jwt", JWT, {"headers": {"Authorization": f"Bearer {JWT}"}}),
    # a name that only ends in "key" is still redacted when the value is credential-shaped
    ("secret_assignment", "Zk3x9QmP2vLr8TnW4yBc7HsJ", {"cacheKey": "Zk3x9QmP2vLr8TnW4yBc7HsJ"}),
    ("secret_assignment", "wq0Zr4Kd81LmXv5nTb2GhY7c", {"key": "wq0Zr4Kd81LmXv5nTb2GhY7c"}),
]
