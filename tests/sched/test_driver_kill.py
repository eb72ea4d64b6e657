"""The driver process SIGKILLed mid-sweep: the rerun runs only what had not finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bench.store import Store
from tests.sched.conftest import REPO, codes, ledger_lines, run_quietly, scripted_run


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (read from /proc), children first."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return [d for c in children for d in (c, *descendants(c))]


def kill_tree(pid: int) -> None:
    """SIGKILL the driver, then whatever it started that is still alive (Ray leaves agents behind)."""
    tree = descendants(pid)
    os.kill(pid, signal.SIGKILL)
    for child in tree:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def succeeded_keys(store) -> list[str]:
    if not (store / "STORE.json").exists() and not any(store.glob("*")):
        return []
    runs = Store.open(str(store)).load_runs("cls_a").to_pylist()
    return [r["arch_id"] for r in runs if r["status"] == "succeeded"]


@pytest.mark.slow
def test_a_killed_driver_loses_nothing_and_the_rerun_runs_only_the_missing_jobs(local_ray, tmp_path):
    store, ledger, n = tmp_path / "store", tmp_path / "ledger", 8
    # The subprocess starts its own embedded Ray: it must not join this suite's cluster through RAY_ADDRESS.
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "launch/run.py",
        "task=cls_a",
        "sweep=range",
        f"sweep.stop={n}",
        "data=toy",
        f"data.toy_root={tmp_path / 'toy'}",
        f"store={store}",
        "job=scripted",
        "test_job.steps=4",
        "test_job.step_s=0.25",
        f"test_job.ledger={ledger}",
        "resources.gpus=0",
        "resources.cpus=1",
        "ray.num_cpus=2",
        "export.at_end=false",
    ]
    with open(tmp_path / "driver.log", "wb") as log:
        driver = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and len(succeeded_keys(store)) < 3:
                time.sleep(0.2)
        finally:
            kill_tree(driver.pid)
            driver.wait()
    time.sleep(1)  # let the kernel reap; commits are atomic, so what is in the store now is final
    before = set(succeeded_keys(store))
    assert 3 <= len(before) < n, (
        f"the driver finished {len(before)} of {n} before it was killed; its output:\n"
        + (tmp_path / "driver.log").read_text()[-3000:]
    )
    first_run = len(ledger_lines(ledger))
    # Steps the interrupted jobs had checkpointed (the scripted job's state.json in its work dir).
    checkpointed = {}
    for code in codes(n):
        found = list((store / "work" / "cls_a" / code.arch_id).glob("s0-*/state.json"))
        state = found[0] if found else store / "absent"
        if code.arch_id not in before:
            checkpointed[code.arch_id] = json.loads(state.read_text())["step"] if state.exists() else 0

    progress, _ = run_quietly(scripted_run(store, {"steps": 4, "step_s": 0.0, "ledger": str(ledger)}, n=n))
    rerun = ledger_lines(ledger)[first_run:]
    rerun_arch = {arch_id_of(code) for event, _s, code, _seed, _pid in rerun if event == "start"}
    assert rerun_arch.isdisjoint(before)  # nothing that had finished ran again
    assert rerun_arch == {c.arch_id for c in codes(n)} - before  # everything missing did
    assert progress.already_done == len(before)
    # Interrupted jobs continued from their own checkpoints instead of starting over.
    runs = Store.open(str(store)).load_runs("cls_a").to_pylist()
    resumed = {
        r["arch_id"]: json.loads(r["info_json"])["resumed_from_step"]
        for r in runs
        if r["status"] == "succeeded" and r["arch_id"] in checkpointed
    }
    assert resumed == checkpointed
    assert Counter(succeeded_keys(store)) == Counter(c.arch_id for c in codes(n))


def arch_id_of(code: str) -> str:
    from bench.code import ArchCode

    return ArchCode.from_string(code).arch_id
