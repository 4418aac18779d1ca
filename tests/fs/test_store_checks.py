"""What a mount does with its S3 store before it serves.

It proves the store enforces conditional writes, with a probe it remembers: a
relay that strips ``If-None-Match`` and ``If-Match`` (a store that ignores
them) is refused with what the probe saw, unless ``--trust-store-cas``; a
warm mount sends no probe.  And it aborts the multipart upload its agent's
previous daemon had under way when it was killed, and no one else's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tcfs import registry
from tests.support.loopback_proxy import LoopbackProxy, strip_conditions
from tests.support.mounts import detach, wait_mounted
from tests.support.s3server import S3_ENV, MotoServer

pytestmark = pytest.mark.mount

REPO = Path(__file__).resolve().parents[2]


def _args(mnt: Path, endpoint: str, bucket: str, agent: str = "alice") -> list[str]:
    return [
        sys.executable,
        "-m",
        "tcfs",
        "mount",
        str(mnt),
        *("--backend", "s3", "--endpoint", endpoint, "--bucket", bucket),
        *("--region", "us-east-1", "--project", "proj", "--agent", agent),
    ]


class Mounter:
    """Foreground mounts of one bucket, each unmounted at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[tuple[Path, subprocess.Popen[bytes]]] = []
        self.count = 0

    def start(self, endpoint: str, bucket: str, *extra: str, agent: str = "alice") -> Path:
        n, self.count = self.count, self.count + 1
        mnt = self.tmp_path / f"mnt-{n}"
        mnt.mkdir()
        log = self.tmp_path / f"daemon-{n}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [*_args(mnt, endpoint, bucket, agent), "--foreground", *extra],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started.append((mnt, proc))
        wait_mounted(mnt, proc, log)
        return log

    def stop_all(self) -> None:
        while self.started:
            detach(*self.started.pop())


@pytest.fixture
def mounter(tmp_path: Path, tcfs_home: Path) -> Iterator[Mounter]:
    m = Mounter(tmp_path)
    try:
        yield m
    finally:
        m.stop_all()


def _probes(proxy: LoopbackProxy) -> int:
    return proxy.count_where(lambda r: "/proj/_tcfs_probe/" in r.target)


def test_a_store_that_ignores_conditions_is_refused(
    tmp_path: Path, tcfs_home: Path, moto_server: MotoServer, mounter: Mounter
) -> None:
    bucket = moto_server.new_bucket()
    proxy = LoopbackProxy(moto_server.port, strip_conditions)
    mnt = tmp_path / "refused"
    mnt.mkdir()
    try:
        refused = subprocess.run(
            _args(mnt, proxy.endpoint, bucket), capture_output=True, text=True, timeout=60
        )
        assert refused.returncode != 0, refused.stdout
        assert not registry.is_mounted(str(mnt))
        said = refused.stderr
        assert f"s3 bucket {bucket} at {proxy.endpoint} does not enforce conditional" in said
        assert "a second If-None-Match create of one key was accepted" in said
        assert "--trust-store-cas" in said

        # the opt-out serves, and says what it overlooks
        log = mounter.start(proxy.endpoint, bucket, "--trust-store-cas")
        assert "serving anyway: --trust-store-cas" in log.read_text()
        assert (tmp_path / "mnt-0" / "inbox").is_dir()
    finally:
        mounter.stop_all()
        detach(mnt, None)
        proxy.close()
    # a refused store is not remembered: the next mount probes it again
    assert _probes(proxy) == 2 * 3  # create, second create (accepted), delete


def test_a_warm_mount_sends_no_probe(
    tcfs_home: Path, moto_server: MotoServer, mounter: Mounter
) -> None:
    bucket = moto_server.new_bucket()
    proxy = LoopbackProxy(moto_server.port)
    try:
        mounter.start(proxy.endpoint, bucket)
        mounter.stop_all()
        cold = _probes(proxy)
        mounter.start(proxy.endpoint, bucket)
        mounter.stop_all()
        warm = _probes(proxy) - cold
    finally:
        proxy.close()
    assert (cold, warm) == (6, 0)  # 4 PUT, the GET the refused If-Match makes, 1 DELETE
    assert not list(
        boto3.client("s3", endpoint_url=moto_server.endpoint, region_name="us-east-1", **_creds())
        .list_objects_v2(Bucket=bucket, Prefix="proj/_tcfs_probe/")
        .get("Contents", [])
    )


def _creds() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
    }


#: uploads a 40 MB artifact as alice and stops for good after its first part
_DYING_UPLOAD = textwrap.dedent(
    """
    import io, sys, time
    from tcfs.protocol import Project
    from tcfs.store.s3 import S3Store

    class Stalls(io.RawIOBase):
        def __init__(self):
            self.given = 0
        def readable(self):
            return True
        def read(self, n=-1):
            if self.given:
                print("part sent", flush=True)
                time.sleep(120)
            self.given += n
            return bytes(n)

    store = S3Store(sys.argv[1], "proj", endpoint=sys.argv[2], path_style=True)
    Project(store, "alice").artifacts.upload("shared", "big.bin", Stalls(), 40 << 20)
    """
)


def test_the_upload_a_killed_daemon_left_is_aborted_at_the_next_mount(
    tcfs_home: Path, moto_server: MotoServer, mounter: Mounter
) -> None:
    bucket = moto_server.new_bucket()
    s3 = boto3.client("s3", endpoint_url=moto_server.endpoint, region_name="us-east-1", **_creds())
    dying = subprocess.Popen(
        [sys.executable, "-c", _DYING_UPLOAD, bucket, moto_server.endpoint],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert dying.stdout is not None
        assert dying.stdout.readline() == b"part sent\n"
    finally:
        dying.send_signal(signal.SIGKILL)
        dying.wait(timeout=30)
    # someone else's upload under the project: no mount of alice's touches it
    other = s3.create_multipart_upload(Bucket=bucket, Key="proj/artifacts/shared/other.bin")

    def uploads() -> list[str]:
        return [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]

    assert sorted(uploads()) == ["proj/artifacts/shared/big.bin", "proj/artifacts/shared/other.bin"]
    mounter.start(moto_server.endpoint, bucket)
    assert uploads() == ["proj/artifacts/shared/other.bin"]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="proj/_tcfs_uploads/")
    s3.abort_multipart_upload(
        Bucket=bucket, Key="proj/artifacts/shared/other.bin", UploadId=other["UploadId"]
    )


def test_doctor_aborts_every_stale_upload(tmp_path: Path, moto_server: MotoServer) -> None:
    bucket = moto_server.new_bucket()
    s3 = boto3.client("s3", endpoint_url=moto_server.endpoint, region_name="us-east-1", **_creds())
    s3.create_multipart_upload(Bucket=bucket, Key="proj/artifacts/s1/a.bin")
    s3.create_multipart_upload(Bucket=bucket, Key="elsewhere/artifacts/s1/b.bin")
    home = tmp_path / "home"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "tcfs", "doctor", "--backend", "s3"),
            *("--endpoint", moto_server.endpoint, "--bucket", bucket, "--project", "proj"),
            *("--region", "us-east-1", "--abort-uploads", "--upload-age", "0"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TCFS_HOME": str(home), "TCFS_CONFIG": str(home / "config.json")},
    )
    assert "✓ incomplete uploads: aborted 1 begun more than 0 s ago: artifacts/s1/a.bin" in (
        done.stdout
    ), done.stdout + done.stderr
    left = [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    assert left == ["elsewhere/artifacts/s1/b.bin"]  # another project's are not this one's
