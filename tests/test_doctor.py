"""``tcfs doctor`` run for real, as a subprocess, against real endpoints.

SAFE needs a backend that decides conditional writes atomically: local, and
moto with serialized writes (plain threaded moto checks and then writes, so
its race can legitimately come out UNSAFE).  A proxy that strips the
condition headers stands in for a backend that ignores them (moto does not
verify signatures, so the edited requests are still accepted).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.loopback_proxy import LoopbackProxy, strip_conditions
from tests.support.machine import TEST_S3
from tests.support.s3server import S3_ENV, free_port
from tests.support.s3server import MotoServer as StrictMoto
from tests.support.seaweedfs import SeaweedServer

PYTHON = sys.executable  # the test environment's interpreter, where tcfs is installed
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def strict_moto(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """moto itself, whatever TCFS_TEST_S3 says: the condition-stripping proxy
    relies on moto not checking signatures."""
    if TEST_S3 == "moto":
        yield request.getfixturevalue("moto_server")
        return
    server = StrictMoto(tmp_path_factory.mktemp("moto-doctor"))
    try:
        yield server
    finally:
        server.stop()


def doctor(
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    unset: tuple[str, ...] = (),
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    full_env = {
        **os.environ,
        **S3_ENV,
        "TCFS_HOME": str(home),
        "TCFS_CONFIG": str(home / "config.json"),
        "PYTHONPATH": str(REPO),
        **(env or {}),
    }
    for name in unset:
        full_env.pop(name, None)
    return subprocess.run(
        [PYTHON, "-m", "tcfs", "doctor", *args],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr


def test_safe_on_local(tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    proc = doctor(tmp_path, "--backend", "local", "--bucket", str(bucket), "--project", "proj")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "✓ If-None-Match race (16 contenders): exactly one winner" in proc.stdout
    assert "✓ If-Match write" in proc.stdout
    assert "✓ conditional delete" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith("SAFE")
    leftovers = [p for p in (bucket / "proj").rglob("*") if p.is_file()]
    assert leftovers == []  # probes cleaned up


def _s3_args(bucket: str, endpoint: str) -> list[str]:
    return ["--backend", "s3", "--bucket", bucket, "--endpoint", endpoint, "--project", "proj"]


def test_safe_on_moto(tmp_path: Path, strict_moto: StrictMoto) -> None:
    bucket = strict_moto.new_bucket()
    proc = doctor(tmp_path, *_s3_args(bucket, strict_moto.endpoint), "--contenders", "16")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "exactly one winner, 15 refused" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith("SAFE")
    left = strict_moto.client().list_objects_v2(Bucket=bucket).get("KeyCount")
    assert left == 0


AWS_LIKE = (
    "✓ If-Match write on a missing key: 404, as AWS",
    "✓ conditional delete of a missing key: 404, as AWS",
    "✓ listing order: keys come in byte order",
    "✓ StartAfter:",
    "✓ emptied folder: disappears",
)


def test_moto_answers_as_aws(tmp_path: Path) -> None:
    server = StrictMoto(tmp_path)
    try:
        proc = doctor(tmp_path, *_s3_args(server.new_bucket(), server.endpoint))
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in AWS_LIKE:
        assert line in proc.stdout, proc.stdout
    assert "~ " not in proc.stdout and "difference(s) from AWS" not in proc.stdout


@pytest.fixture(scope="module")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    server = SeaweedServer(tmp_path_factory.mktemp("seaweedfs-doctor"))
    try:
        yield server
    finally:
        server.stop()


def test_seaweedfs_differences_are_reported(tmp_path: Path, seaweedfs: SeaweedServer) -> None:
    bucket = seaweedfs.new_bucket()
    proc = doctor(tmp_path, *_s3_args(bucket, seaweedfs.endpoint))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "~ If-Match write on a missing key: answers 412 where AWS answers 404" in out
    assert "~ conditional delete of a missing key: answers 412 where AWS answers 404" in out
    assert "~ listing order: keys come out of byte order" in out
    assert "~ StartAfter: skips a folder's keys" in out
    assert "~ emptied folder: stays listed as a CommonPrefix" in out
    assert "tcfs checks each listed folder" in out  # recognised, so tcfs copes
    assert "difference(s) from AWS (~): tcfs stays correct on each" in out
    assert out.strip().splitlines()[-1].startswith("SAFE")
    _no_traceback(proc)
    left = seaweedfs.client().list_objects_v2(Bucket=bucket).get("KeyCount")
    assert left == 0  # every probe removed


def test_json_report(tmp_path: Path, strict_moto: StrictMoto) -> None:
    bucket = strict_moto.new_bucket()
    proc = doctor(tmp_path, *_s3_args(bucket, strict_moto.endpoint), "--contenders", "4", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["verdict"] == "SAFE" and report["safe"] is True
    assert {c["name"] for c in report["checks"]} >= {"reach", "read/write", "If-Match write"}
    assert all(c["ok"] for c in report["checks"])


def test_unsafe_when_backend_ignores_conditions(tmp_path: Path, strict_moto: StrictMoto) -> None:
    bucket = strict_moto.new_bucket()
    proxy = LoopbackProxy(strict_moto.port, strip_conditions)
    try:
        proc = doctor(tmp_path, *_s3_args(bucket, proxy.endpoint))
    finally:
        proxy.close()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "✗ If-None-Match race" in proc.stdout
    assert "16 of 16 contenders won" in proc.stdout
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("UNSAFE") and "ignores the condition" in last
    _no_traceback(proc)
    # the proxy really did remove the conditions
    assert proxy.count_where(lambda r: r.method == "PUT") >= 16


def _verdict(proc: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """The verdict line and the fix line that follows it."""
    lines = proc.stdout.strip().splitlines()
    return lines[-2], lines[-1]


def test_unreachable_endpoint(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # a closed loopback port
    proc = doctor(tmp_path, *_s3_args("bucket", endpoint))
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "✗ reach: cannot reach the backend" in proc.stdout
    verdict, fix = _verdict(proc)
    assert verdict.startswith("UNREACHABLE: cannot reach the backend")
    assert fix.startswith(f"fix: nothing answered at {endpoint}") and "--endpoint" in fix
    assert "UNSAFE" not in proc.stdout
    _no_traceback(proc)


@pytest.mark.slow
def test_silent_endpoint_is_unreachable(tmp_path: Path) -> None:
    """A server that takes the connection and never answers: the read times out."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        proc = doctor(tmp_path, *_s3_args("bucket", endpoint), timeout=180)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    verdict, fix = _verdict(proc)
    assert verdict.startswith("UNREACHABLE: cannot reach the backend") and "timed out" in verdict
    assert fix.startswith(f"fix: nothing answered at {endpoint}")
    _no_traceback(proc)


def test_malformed_endpoint_is_misconfigured(tmp_path: Path) -> None:
    proc = doctor(tmp_path, *_s3_args("bucket", "not-a-url"))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    verdict, fix = _verdict(proc)
    assert verdict.startswith("MISCONFIGURED: cannot set up the S3 client")
    assert "--endpoint is a URL such as http://" in fix
    _no_traceback(proc)


def test_bad_credentials(tmp_path: Path) -> None:
    server = StrictMoto(tmp_path, env={"INITIAL_NO_AUTH_ACTION_COUNT": "1"})
    try:
        bucket = server.new_bucket()
        proc = doctor(tmp_path, *_s3_args(bucket, server.endpoint))
    finally:
        server.stop()
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "✗ reach: access denied" in proc.stdout
    verdict, fix = _verdict(proc)
    assert verdict.startswith("MISCONFIGURED: access denied")
    assert fix.startswith("fix: check the credentials") and "bucket policy" in fix
    _no_traceback(proc)


def test_no_credentials(tmp_path: Path, strict_moto: StrictMoto) -> None:
    bucket = strict_moto.new_bucket()
    proc = doctor(
        tmp_path,
        *_s3_args(bucket, strict_moto.endpoint),
        # nothing in the standard AWS chain: no keys, no profile files, no instance metadata
        env={
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        },
        unset=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"),
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "✗ reach: no S3 credentials found" in proc.stdout
    verdict, fix = _verdict(proc)
    assert verdict.startswith("MISCONFIGURED: no S3 credentials found")
    assert "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in fix and "AWS_PROFILE" in fix
    _no_traceback(proc)


def test_missing_bucket(tmp_path: Path, strict_moto: StrictMoto) -> None:
    proc = doctor(tmp_path, *_s3_args("no-such-bucket", strict_moto.endpoint))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    verdict, fix = _verdict(proc)
    assert verdict == "MISCONFIGURED: not found: bucket no-such-bucket does not exist"
    create = f"aws s3 mb s3://no-such-bucket --endpoint-url {strict_moto.endpoint}"
    assert fix == f"fix: create the bucket: {create}"
    # the fix works as printed (moto stands in for the aws CLI's CreateBucket)
    strict_moto.client().create_bucket(Bucket="no-such-bucket")
    proc = doctor(tmp_path, *_s3_args("no-such-bucket", strict_moto.endpoint), "--contenders", "4")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _no_traceback(proc)


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    proc = doctor(tmp_path, "--backend", "s3", "--project", "proj")  # no bucket
    assert proc.returncode == 2
    assert "--bucket" in proc.stderr
    proc = doctor(tmp_path, "--contenders", "1")
    assert proc.returncode == 2
    _no_traceback(proc)


def test_hf_is_best_effort(tmp_path: Path, hf_standin) -> None:  # type: ignore[no-untyped-def]
    bucket = hf_standin.new_bucket()
    proc = doctor(
        tmp_path,
        "--backend",
        "hf",
        "--bucket",
        bucket,
        "--endpoint",
        hf_standin.endpoint,
        "--project",
        "proj",
        env={
            "HF_TOKEN": hf_standin.token,
            "HF_HOME": str(tmp_path / "hf-home"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
        },
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "✓ read/write" in proc.stdout
    assert "✗ conditional writes" in proc.stdout
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("UNSAFE") and "best effort" in last
    _no_traceback(proc)
