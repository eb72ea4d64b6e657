"""Joining a Ray cluster that is not there: a bounded wait, one line saying what to do, exit 2; SIGTERM ends it.

Ray alone retries an unreachable GCS for about 13 minutes, inside C++ where SIGTERM's Python
handler cannot run. Times are measured from the driver's "connecting to" line, so the
launcher's start-up (imports, config) on a loaded machine does not blur them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from bench.errors import BenchError
from bench.sched.cluster import RayConnection
from tests.sched.conftest import REPO
from tests.sched.listening import free_port

ENV = {**os.environ, "PYTHONPATH": str(REPO)}
SLACK_S = 5.0  # past the timeout: the thread hand-over and the process exit, on a loaded 2-core machine


def launcher(tmp_path, *overrides: str) -> subprocess.Popen:
    args = ["launcher=cluster", "job=scripted", f"store={tmp_path / 'store'}", *overrides]
    return subprocess.Popen([sys.executable, "launch/run.py", *args], cwd=REPO, env=ENV, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for_line(stream, prefix: str) -> tuple[float, list[str]]:
    """Read ``stream`` until a line starts with ``prefix``; (when it came, every line read)."""
    lines = []
    for line in stream:
        lines.append(line.rstrip("\n"))
        if line.startswith(prefix):
            return time.monotonic(), lines
    pytest.fail(f"the driver never printed {prefix!r}; it printed {lines}")


@pytest.fixture
def silent_port():
    """A port that accepts TCP connections and never answers (not a GCS), on the address Ray dials."""
    from ray._private.services import node_ip_address_from_perspective

    # Ray rewrites a loopback GCS host to this address (resolve_ip_for_localhost): listen where it will dial.
    host = node_ip_address_from_perspective()
    server = socket.create_server((host, 0))
    held = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:  # closed at the end of the test
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"{host}:{server.getsockname()[1]}"
    server.close()
    for conn in held:
        conn.close()


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf")])
def test_connect_timeout_must_be_a_finite_number_of_seconds(value):
    with pytest.raises(BenchError, match=r"ray\.connect_timeout_s=.* valid is a finite number >= 1"):
        RayConnection(address="auto", connect_timeout_s=value)


def test_the_dashboard_switch_is_for_a_local_ray_only():
    assert RayConnection(dashboard=True).dashboard
    with pytest.raises(BenchError, match="ray.dashboard=true starts the dashboard of a local Ray"):
        RayConnection(address="head:6379", dashboard=True)


@pytest.mark.slow  # the launcher imports torch before it connects: ~10 s on 2 quiet cores, 30 s loaded
def test_nobody_listening_exits_2_with_one_line_within_the_timeout(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    proc = launcher(tmp_path, f"ray.address={address}", "ray.connect_timeout_s=3")
    started, _ = wait_for_line(proc.stderr, "connecting to the Ray cluster")
    rest = proc.stderr.read().splitlines()
    assert proc.wait(timeout=60) == 2, rest
    waited = time.monotonic() - started
    errors = [line for line in rest if line.startswith("error:")]
    assert len(errors) == 1 and len(rest) == 1, rest
    assert f"ray.address={address}" in errors[0] and "ray start --head" in errors[0] and "launcher=local" in errors[0]
    assert 3.0 <= waited < 3.0 + SLACK_S, f"waited {waited:.1f} s for ray.connect_timeout_s=3"


def connecting(address: str, timeout_s: float) -> subprocess.Popen:
    """A driver joining ``address`` exactly as the launcher does (``connect``, then ``fail`` on a BenchError),
    without the launcher's imports (torch): seconds instead of tens of seconds on a loaded machine."""
    script = (
        "import time\n"
        "from bench.cli import fail\n"
        "from bench.errors import BenchError\n"
        "from bench.sched.cluster import RayConnection, connect\n"
        "start = time.monotonic()\n"
        "try:\n"
        f"    connect(RayConnection(address={address!r}, connect_timeout_s={timeout_s}))\n"
        "except BenchError as err:\n"
        "    print(f'{time.monotonic() - start:.2f}', flush=True)\n"
        "    fail(str(err))\n"  # exits 2 with Ray's connect thread still blocked, as the launcher does
    )
    return subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_port_that_never_answers_as_ray_is_given_up_after_the_timeout(silent_port):
    proc = connecting(silent_port, 2)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert 2.0 <= float(out) < 2.0 + SLACK_S
    error = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and silent_port in error[0] and "did not answer as a Ray cluster" in error[0], err


def test_sigterm_while_connecting_ends_the_driver_at_once(silent_port):
    proc = connecting(silent_port, 300)
    try:
        wait_for_line(proc.stderr, "connecting to the Ray cluster")
        time.sleep(2.0)  # past the TCP check: inside ray.init, where Ray would hold SIGTERM back (38 s before)
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        assert time.monotonic() - sent < 3.0
        assert proc.returncode == -signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
