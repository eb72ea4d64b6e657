"""Fault injection on a real local Ray: worker processes SIGKILLed at random during a sweep."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter

from bench.faults import kind_of_error_text
from bench.store import Store
from tests.sched.conftest import codes, ledger_lines, run_quietly, scripted_run


def kill_running_workers(ledger, stop: threading.Event, kills: list[int], max_kills: int, seed: int) -> None:
    """Every ~0.4 s, SIGKILL the process of a random job that started and has not ended."""
    rng = random.Random(seed)
    while not stop.is_set() and len(kills) < max_kills:
        time.sleep(rng.uniform(0.2, 0.6))
        open_jobs: dict[tuple, int] = {}
        for event, _setting, code, seed_, pid in ledger_lines(ledger):
            if event == "start":
                open_jobs[(code, seed_)] = int(pid)
            else:
                open_jobs.pop((code, seed_), None)
        if open_jobs:
            pid = open_jobs[rng.choice(sorted(open_jobs))]
            try:
                os.kill(pid, signal.SIGKILL)
                kills.append(pid)
            except ProcessLookupError:
                pass


def test_random_worker_kills_lose_nothing_and_complete_each_job_exactly_once(local_ray, tmp_path):
    ledger = tmp_path / "ledger"
    n, max_kills = 6, 3
    run = scripted_run(
        tmp_path / "store", {"steps": 8, "step_s": 0.1, "ledger": str(ledger)}, n=n, max_attempts=max_kills + 1
    )
    stop, kills = threading.Event(), []
    killer = threading.Thread(target=kill_running_workers, args=(ledger, stop, kills, max_kills, 0), daemon=True)
    killer.start()
    try:
        progress, _ = run_quietly(run)
    finally:
        stop.set()
        killer.join()
    assert kills, "the fault injector never found a running job to kill"
    runs = Store.open(str(tmp_path / "store")).load_runs("cls_a").to_pylist()
    succeeded = Counter(r["arch_id"] for r in runs if r["status"] == "succeeded")
    assert succeeded == Counter(c.arch_id for c in codes(n))  # every job, exactly once
    died = [r for r in runs if r["status"] == "failed"]
    assert 1 <= len(died) <= len(kills)
    assert {kind_of_error_text(r["error"]) for r in died} == {"worker_died"}
    assert progress.failed == 0 and progress.retried == len(died)
