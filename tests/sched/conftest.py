"""One real local Ray for the scheduler tests (started once, shut down after them), and sweep builders.

The Ray is a ``ray.cluster_utils.Cluster`` (a real head node; more nodes can
be added and killed), so the node-death test can take a node away mid-sweep.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import ray

from bench.config import parse
from bench.sched.cluster import LOOPBACK, RayConnection, loopback_only
from bench.sched.config import SweepRun
from bench.sched.driver import DriverOptions
from bench.sched.jobs import JobTemplate, Resources
from bench.sched.selection import Selection
from bench.sched.sweep import execute
from bench.sched.testing_jobs import ScriptedOptions, scripted_experiment
from bench.space import sample_codes

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="package")
def ray_cluster():
    """The session's Ray cluster (None if something else already initialised Ray in this process)."""
    if ray.is_initialized():
        yield None
        return
    from ray.cluster_utils import Cluster

    with loopback_only():  # every node and the driver on 127.0.0.1, as a local run (test_cluster_network.py)
        cluster = Cluster(initialize_head=True,
                          head_node_args={"num_cpus": 2, "include_dashboard": False, "node_ip_address": LOOPBACK})
        ray.init(address=cluster.address, log_to_driver=False, namespace="nasbench-mr-tests")
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="package")
def local_ray(ray_cluster):
    yield


def codes(n: int) -> list:
    """The first ``n`` codes of the frozen list (sample_codes is what froze it)."""
    return sample_codes(n, seed=0)


def scripted_run(
    store: Path,
    test_job: dict,
    *,
    setting: str = "cls_a",
    n: int = 4,
    max_attempts: int = 2,
    timeout_s: float | None = None,
    source: str = "frozen",
    seeds: tuple[int, ...] = (0,),
    dependency_wait_s: float = 0.0,
    export: bool = False,
    max_consecutive_failures: int | None = 20,
    resources: Resources | None = None,
) -> SweepRun:
    """A sweep of the scripted test job over the first ``n`` frozen codes."""
    selection = Selection(name="test", source=source, stop=n if source == "frozen" else None)
    options = parse(ScriptedOptions, test_job, "test_job")
    return SweepRun(
        seeds=seeds,
        selection=selection,
        template=JobTemplate(scripted_experiment(setting, options, str(store / "data")), str(store), str(store / "work")),
        resources=resources or Resources(gpus=0, cpus=1),
        options=DriverOptions(
            max_attempts=max_attempts,
            timeout_s=timeout_s,
            poll_s=0.2,
            dependency_wait_s=dependency_wait_s,
            retry_failed=source == "retry_failed",
            max_consecutive_failures=max_consecutive_failures,
        ),
        connection=RayConnection(),
        progress_interval_s=60.0,
        export_at_end=export,
        export_out=None,
    )


def run_quietly(run: SweepRun):
    """Execute a sweep, returning (progress, printed text)."""
    out = io.StringIO()
    progress = execute(run, out=out)
    return progress, out.getvalue()


def ledger_lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []
