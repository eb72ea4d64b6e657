"""A node disappears mid-sweep (hard kill of its raylet): its attempts are retried on another node."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from bench.faults import kind_of_error_text
from bench.sched.jobs import Resources
from bench.store import Store
from tests.sched.conftest import codes, ledger_lines, run_quietly, scripted_run


@pytest.mark.slow
def test_jobs_on_a_dead_node_are_retried_elsewhere_and_finish_once(ray_cluster, tmp_path):
    if ray_cluster is None:
        pytest.skip("Ray was initialised outside this suite's cluster fixture: no node can be removed")
    ledger, n = tmp_path / "ledger", 4
    first = ray_cluster.add_node(num_cpus=2, resources={"spot": 2})
    ray_cluster.wait_for_nodes()
    run = scripted_run(
        tmp_path / "store",
        {"steps": 5, "step_s": 0.2, "ledger": str(ledger)},
        n=n,
        max_attempts=3,
        resources=Resources(gpus=0, cpus=0, custom={"spot": 1}),
    )
    result: dict = {}

    def sweep() -> None:  # the driver in a thread: Ray's node start-up needs the main thread (signals)
        try:
            result["progress"] = run_quietly(run)[0]
        except BaseException as err:  # noqa: BLE001 - re-raised below, in the test's thread
            result["error"] = err

    thread = threading.Thread(target=sweep, daemon=True)
    thread.start()
    second = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(e[0] == "start" for e in ledger_lines(ledger)):
            time.sleep(0.1)
        ray_cluster.remove_node(first, allow_graceful=False)  # preempted: its raylet and workers die at once
        second = ray_cluster.add_node(num_cpus=2, resources={"spot": 2})
        thread.join(timeout=120)
        assert not thread.is_alive(), "the sweep did not finish after its node was replaced"
    finally:
        if second is not None:
            ray_cluster.remove_node(second)
    if "error" in result:
        raise result["error"]
    progress = result["progress"]
    runs = Store.open(str(tmp_path / "store")).load_runs("cls_a").to_pylist()
    assert Counter(r["arch_id"] for r in runs if r["status"] == "succeeded") == Counter(c.arch_id for c in codes(n))
    lost = [kind_of_error_text(r["error"]) for r in runs if r["status"] == "failed"]
    assert lost and set(lost) <= {"node_died", "worker_died"}, lost
    assert progress.failed == 0
