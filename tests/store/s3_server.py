"""A real S3-compatible server for the store tests: moto's server mode, on the loopback interface only.

The server is a separate HTTP endpoint (not moto's in-process mocking), so
the store goes through s3fs, aiobotocore and HTTP exactly as it would against
AWS or MinIO, and worker processes reach it like any other client. The
endpoint and the test credentials reach every client through the standard
AWS environment variables (``AWS_ENDPOINT_URL`` and the keys), which child
processes inherit; the developer's own AWS configuration is hidden.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator

import pytest

BUCKET = "bench-store-test"
START_TIMEOUT_S = 30.0
TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,  # never the developer's profiles or real credentials
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
HIDDEN_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL_S3")


def require(module: str, why: str) -> None:
    """Import ``module`` or skip (fail under CI, whose dev extra installs it: a skip there would hide the gap)."""
    try:
        importlib.import_module(module)
    except ImportError:
        message = f"{module} is not installed ({why}); pip install -e '.[dev]' brings it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_listening(process: subprocess.Popen, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """Start moto's S3 server on 127.0.0.1 with an empty bucket; yields the endpoint URL; stops it after.

    The server runs in its own process: in a thread of the test process it
    would share the interpreter lock with the store code under test, and every
    request would wait for it.
    """
    require("s3fs", "the store's S3 back-end")
    require("moto.server", "the local S3-compatible server")
    port = _free_loopback_port()
    log = tempfile.TemporaryFile()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        if not _wait_until_listening(process, port, START_TIMEOUT_S):
            log.seek(0)
            tail = log.read().decode(errors="replace")[-500:]
            pytest.skip(f"cannot start the local S3 server (python -m moto.server) on 127.0.0.1:{port}: {tail!r}")
        endpoint = f"http://127.0.0.1:{port}"
        with pytest.MonkeyPatch.context() as patch:
            for name, value in {**TEST_ENV, "AWS_ENDPOINT_URL": endpoint}.items():
                patch.setenv(name, value)
            for name in HIDDEN_ENV:
                patch.delenv(name, raising=False)
            import boto3
            import s3fs

            try:
                boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
                yield endpoint
            finally:
                s3fs.S3FileSystem.clear_instance_cache()  # cached clients point at this endpoint
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def fresh_uri() -> str:
    """A store URI no other test uses, in the test bucket."""
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"
