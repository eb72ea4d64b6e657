"""A local run's Ray listens on loopback only: no server of it is reachable from the network.

Ray's APIs run arbitrary code for whoever reaches them, so every listening socket of every
process of the run (driver, GCS, raylet, agents, metrics exporters, workers) must be bound
to 127.0.0.1 or ::1. Servers start at different moments (agents and workers after the raylet),
so the sockets are sampled until each expected component has been seen listening.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import ray

from tests.sched.conftest import REPO
from tests.sched.listening import descendants, is_loopback, listening

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

# A local Ray started exactly as the scheduler starts it, with a worker busy on a task until the end.
LOCAL_RUN = """
import sys, time, ray
from bench.sched.cluster import RayConnection, connect
connect(RayConnection(num_cpus=1))
ray.remote(lambda: time.sleep(600)).options(name="hold").remote()
print("READY", flush=True)
sys.stdin.read()  # until the test closes it
ray.shutdown()
"""

# Who must have been seen listening: the issue found each of these on all interfaces ("ray::hold": a worker).
EXPECTED = ("gcs_server", "raylet", "ray::DashboardAgent", "ray::RuntimeEnvAgent", "ray::hold")


def sample(root: int, expected: tuple[str, ...], patience_s: float = 60.0, settle_s: float = 3.0):
    """Every listening socket of ``root``'s tree, sampled until each ``expected`` name was seen listening,
    and for ``settle_s`` more (servers that start later: metrics exporters)."""
    seen: dict[tuple[int, str, int], str] = {}
    deadline, settled_at = time.monotonic() + patience_s, None
    while time.monotonic() < deadline:
        for pid, address, port, command in listening(descendants(root)):
            seen[(pid, address, port)] = command
        missing = [name for name in expected if not any(name in command for command in seen.values())]
        if not missing and settled_at is None:
            settled_at = time.monotonic() + settle_s
        if settled_at is not None and time.monotonic() >= settled_at:
            return seen
        time.sleep(0.3)
    pytest.fail(f"never saw {missing} listening within {patience_s} s; saw {sorted(set(seen.values()))}")


def not_loopback(seen: dict) -> list[str]:
    """The sockets not on loopback, as ``address:port (command)``."""
    return [f"{f'[{address}]' if ':' in address else address}:{port} ({command[:60]})"
            for (_, address, port), command in seen.items() if not is_loopback(address)]


def test_a_local_run_binds_every_ray_server_to_loopback():
    proc = subprocess.Popen([sys.executable, "-c", LOCAL_RUN], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline().strip() == "READY"
        seen = sample(proc.pid, EXPECTED)
        assert any(pid == proc.pid for pid, _, _ in seen), "the driver's own server was not seen"
        assert not not_loopback(seen), f"listening beyond loopback: {not_loopback(seen)}"
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_the_scheduler_tests_cluster_listens_on_loopback_only(ray_cluster):
    if ray_cluster is None:
        pytest.skip("Ray was initialised by someone else in this process")

    held = ray.remote(lambda: time.sleep(600)).options(name="hold", num_cpus=0).remote()
    try:
        seen = sample(os.getpid(), ("gcs_server", "raylet", "ray::hold"), settle_s=1.0)
    finally:
        ray.cancel(held, force=True)
    assert not not_loopback(seen), f"listening beyond loopback: {not_loopback(seen)}"
