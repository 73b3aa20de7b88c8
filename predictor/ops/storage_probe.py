"""Whether the object storage behind artifacts and uploads answers: for /healthz, asked seldom and briefly.

A probe is one HEAD of the bucket with a short timeout and no retry (STORAGE_PROBE_TIMEOUT_SECONDS),
made at most once every STORAGE_PROBE_SECONDS per process per bucket; the answers in between are
the last one. A load balancer polling every second costs the bucket one request per process per
period, and a stopped bucket costs a health check at most one timeout per period. While one thread
probes, the others answer with the last result rather than wait.
"""

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

OK = ""


@dataclass
class _Probe:
    client: Any  # a boto3 S3 client with the probe's timeouts
    bucket: str
    problem: str = OK
    next_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def result(self) -> str:
        if time.monotonic() < self.next_at or not self.lock.acquire(blocking=False):
            return self.problem
        try:
            self.problem = _head_bucket(self.client, self.bucket)
            self.next_at = time.monotonic() + settings.STORAGE_PROBE_SECONDS
        finally:
            self.lock.release()
        return self.problem


_probes: dict[tuple, _Probe] = {}
_probes_lock = threading.Lock()


def s3_problem(storage: Any) -> str:
    """What is wrong with the S3 bucket behind ``storage`` (a django-storages S3Storage); "" when it answers."""
    key = (storage.endpoint_url, storage.bucket_name, storage.access_key)
    with _probes_lock:
        probe = _probes.get(key)
        if probe is None:
            probe = _probes[key] = _Probe(client=_probe_client(storage), bucket=storage.bucket_name)
    return probe.result()


def forget() -> None:
    """Probe afresh next time: the settings changed, or a test restarted the storage."""
    with _probes_lock:
        _probes.clear()


def _probe_client(storage: Any) -> Any:
    from botocore.config import Config

    timeout = settings.STORAGE_PROBE_TIMEOUT_SECONDS
    config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"total_max_attempts": 1})
    if storage.client_config is not None:
        config = storage.client_config.merge(config)
    return storage._create_session().client(
        "s3",
        region_name=storage.region_name,
        use_ssl=storage.use_ssl,
        endpoint_url=storage.endpoint_url,
        config=config,
        verify=storage.verify,
    )


def _head_bucket(client: Any, bucket: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        return f"bucket {bucket} refused the probe ({code or type(error).__name__})"
    except BotoCoreError as error:
        return f"bucket {bucket} unavailable ({type(error).__name__})"
    return OK


@receiver(setting_changed)
def _forget_probes(*, setting: str, **kwargs) -> None:
    if setting in {"STORAGES", "STORAGE_PROBE_SECONDS", "STORAGE_PROBE_TIMEOUT_SECONDS"}:
        forget()
