"""The driver on a real local Ray, with the scripted test jobs: resume, retries, fault kinds, dependencies."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import pyarrow.compute as pc
import pytest

from bench.faults import kind_of_error_text
from bench.sched.driver import SweepAborted
from bench.store import Store
from tests.sched.conftest import codes, ledger_lines, run_quietly, scripted_run


def runs_of(store: Path, setting: str = "cls_a") -> list[dict]:
    table = Store.open(str(store)).load_runs(setting)
    return table.select(["arch_id", "seed", "attempt", "status", "error", "info_json"]).to_pylist()


def test_sweep_fills_the_store_writes_logs_and_a_rerun_runs_nothing(local_ray, tmp_path):
    ledger = tmp_path / "ledger"
    run = scripted_run(tmp_path / "store", {"steps": 2, "ledger": str(ledger)}, n=4, seeds=(0, 1))
    progress, text = run_quietly(run)
    assert (progress.succeeded, progress.failed, progress.attempts) == (8, 0, 8)
    runs = runs_of(tmp_path / "store")
    assert sorted((r["arch_id"], r["seed"]) for r in runs) == sorted((c.arch_id, s) for c in codes(4) for s in (0, 1))
    assert {r["status"] for r in runs} == {"succeeded"}
    store = Store.open(str(tmp_path / "store"))
    log = Path(store.log_uri(codes(4)[2].arch_id, "cls_a", 1, 1)).read_text()
    assert f"cls_a/{codes(4)[2].arch_id}/seed1 attempt 1" in log and "scripted job" in log
    assert store.load_setting("cls_a", data="synthetic").num_rows == 4
    assert store.load_setting("cls_a").num_rows == 0  # the scripted job's numbers are not benchmark numbers
    starts = len(ledger_lines(ledger))

    again, text = run_quietly(run)
    assert (again.already_done, again.attempts) == (8, 0)
    assert "8 done, 0 to run" in text
    assert len(ledger_lines(ledger)) == starts  # nothing executed


def test_an_always_failing_job_ends_failed_after_the_budget_and_the_others_succeed(local_ray, tmp_path):
    bad = codes(4)[1].arch_id
    options = {"fail": [bad]}
    progress, text = run_quietly(scripted_run(tmp_path / "store", options, n=4, max_attempts=3))
    assert (progress.succeeded, progress.failed, progress.retried) == (3, 1, 2)
    assert f"FAILED cls_a/{bad}/seed0 attempt 3" in text
    bad_runs = [r for r in runs_of(tmp_path / "store") if r["arch_id"] == bad]
    assert [r["attempt"] for r in bad_runs] == [1, 2, 3]
    assert all(r["status"] == "failed" and "scripted failure" in r["error"] for r in bad_runs)
    assert all(kind_of_error_text(r["error"]) == "job_error" for r in bad_runs)

    # Budget spent: a plain rerun does not try again, and says so.
    again, text = run_quietly(scripted_run(tmp_path / "store", options, n=4, max_attempts=3))
    assert again.attempts == 0 and "1 failed with no attempts left" in text

    # retry_failed lists it and gives it a fresh budget (the cause fixed: no more failure).
    retry, text = run_quietly(scripted_run(tmp_path / "store", {}, source="retry_failed", max_attempts=3))
    assert f"retrying cls_a/{bad}/seed0 (attempt 4)" in text
    assert (retry.total, retry.succeeded, retry.failed) == (1, 1, 0)
    final = [r for r in runs_of(tmp_path / "store") if r["arch_id"] == bad]
    assert [(r["attempt"], r["status"]) for r in final][-1] == (4, "succeeded")


def test_hang_crash_and_oom_are_recorded_by_kind_and_retried(local_ray, tmp_path):
    hang, crash, oom, plain = (c.arch_id for c in codes(4))
    options = {"hang_once": [hang], "crash_once": [crash], "oom": [oom], "steps": 1}
    progress, _ = run_quietly(scripted_run(tmp_path / "store", options, n=4, max_attempts=2, timeout_s=3.0))
    assert (progress.succeeded, progress.failed) == (3, 1)
    by_key = {}
    for r in runs_of(tmp_path / "store"):
        by_key.setdefault(r["arch_id"], []).append((r["attempt"], r["status"], kind_of_error_text(r["error"])))
    assert by_key[hang] == [(1, "failed", "timeout"), (2, "succeeded", None)]
    assert by_key[crash] == [(1, "failed", "worker_died"), (2, "succeeded", None)]
    assert by_key[oom] == [(1, "failed", "gpu_oom"), (2, "failed", "gpu_oom")]
    assert by_key[plain] == [(1, "succeeded", None)]


def test_video_p_fails_clearly_without_cls_a_then_starts_from_its_checkpoint(local_ray, tmp_path):
    store = tmp_path / "store"
    progress, _ = run_quietly(scripted_run(store, {}, setting="video_p", n=2, max_attempts=3))
    assert (progress.succeeded, progress.failed, progress.retried) == (0, 2, 0)  # not retried: it cannot help
    errors = [r["error"] for r in runs_of(store, "video_p")]
    assert len(errors) == 2 and all(e.startswith("dependency_missing:") and "cls_a" in e for e in errors)

    run_quietly(scripted_run(store, {"steps": 1}, setting="cls_a", n=2))
    progress, _ = run_quietly(scripted_run(store, {}, setting="video_p", n=2, max_attempts=3))
    assert progress.succeeded == 2
    ok = [r for r in runs_of(store, "video_p") if r["status"] == "succeeded"]
    for row in ok:
        init = json.loads(row["info_json"])["init_checkpoint"]
        assert f"/cls_a/{row['arch_id']}/s0-" in init and init.endswith("/state.json")


def test_a_broken_environment_stops_the_sweep_instead_of_burning_every_budget(local_ray, tmp_path):
    every = [c.arch_id for c in codes(6)]
    run = scripted_run(tmp_path / "store", {"fail": every}, n=6, max_attempts=3, max_consecutive_failures=4)
    with pytest.raises(SweepAborted, match="4 attempts in a row failed"):
        run_quietly(run)
    failed = runs_of(tmp_path / "store")
    assert 4 <= len(failed) < 6 * 3 and all(r["status"] == "failed" for r in failed)


def test_exactly_one_success_per_job(local_ray, tmp_path):
    """Per key, the store holds one succeeded run: commits are idempotent, reruns skip done keys."""
    run = scripted_run(tmp_path / "store", {"fail_once": [codes(3)[0].arch_id]}, n=3)
    run_quietly(run)
    run_quietly(run)
    table = Store.open(str(tmp_path / "store")).load_runs("cls_a")
    ok = table.filter(pc.equal(table["status"], "succeeded"))
    assert Counter(ok["arch_id"].to_pylist()) == Counter(c.arch_id for c in codes(3))


def test_video_p_waits_for_a_cls_a_sweep_running_alongside(local_ray, tmp_path):
    store = tmp_path / "store"
    result = {}

    def video_p() -> None:
        result["progress"] = run_quietly(scripted_run(store, {}, setting="video_p", n=2, dependency_wait_s=60))[0]

    waiter = threading.Thread(target=video_p, daemon=True)
    waiter.start()
    time.sleep(1.0)  # the video_p jobs are waiting now; the cls_a sweep starts after them
    run_quietly(scripted_run(store, {"steps": 1}, setting="cls_a", n=2))
    waiter.join(timeout=60)
    assert not waiter.is_alive()
    assert (result["progress"].succeeded, result["progress"].failed) == (2, 0)
    assert [r["attempt"] for r in runs_of(store, "video_p")] == [1, 1]


def test_bad_input_is_recorded_once_not_retried_and_the_breaker_names_the_data(local_ray, tmp_path):
    bad = codes(3)[0].arch_id
    progress, text = run_quietly(scripted_run(tmp_path / "store", {"bad_input": [bad]}, n=3, max_attempts=3))
    assert (progress.succeeded, progress.failed, progress.retried) == (2, 1, 0)
    (row,) = [r for r in runs_of(tmp_path / "store") if r["arch_id"] == bad]
    assert kind_of_error_text(row["error"]) == "bad_input" and "broken.jpg" in row["error"]
    assert "\n" not in row["error"]  # the one line a person needs, not a traceback
    every = [c.arch_id for c in codes(4)]
    run = scripted_run(tmp_path / "store2", {"bad_input": every}, n=4, max_attempts=3, max_consecutive_failures=3)
    with pytest.raises(SweepAborted, match="this looks like the data or the recipe: scripted bad input: image"):
        run_quietly(run)


def test_a_full_disk_stops_the_sweep_without_using_retries(local_ray, tmp_path):
    full = codes(2)[1].arch_id
    run = scripted_run(tmp_path / "store", {"disk_full": [full]}, n=2, max_attempts=3)
    with pytest.raises(SweepAborted, match="No space left on device.*No retry was used"):
        run_quietly(run)
    assert not [r for r in runs_of(tmp_path / "store") if r["arch_id"] == full]  # nothing recorded against it
