"""plan=true: the sweep's jobs after resume, GPU-hours, time and disk, computed without starting anything."""

from __future__ import annotations

import importlib.util
import math
import re
import subprocess
import sys
import tempfile
from dataclasses import replace

import pytest
import ray
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from bench.code import ArchCode
from bench.config import ConfigError
from bench.cost import CostSpec, cost
from bench.errors import BenchError
from bench.experiment import Experiment
from bench.job import DataSource, JobResult, JobSpec
from bench.sched.codes import load_frozen
from bench.sched.config import build_plan
from bench.sched.plan import kept_checkpoints, make_plan
from bench.sched.published import load_published
from bench.settings import setting_names
from bench.store import RunRecord, Store
from tasks import TASKS
from tests.sched.conftest import REPO

if not OmegaConf.has_resolver("tempdir"):
    OmegaConf.register_new_resolver("tempdir", tempfile.gettempdir)

SEG = CostSpec("seg", (512, 1024), 19)  # conf/task/seg.yaml's training crop, written out independently


def compose_run(overrides: list[str]):
    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        return compose("run", overrides=overrides)


def plan_of(overrides: list[str]):
    return make_plan(build_plan(compose_run(["plan=true", *overrides]), TASKS))


def seg_gpu_seconds(code: ArchCode, overhead_s: float, tflops: float) -> float:
    """One seg job by hand: 25,000 iterations, each 8 GPUs x overhead + 64 crops x forward FLOPs / rate."""
    return 25_000 * (8 * overhead_s + 64 * cost(code, SEG).flops / (tflops * 1e12))


def test_full_sweep_plan_matches_an_independent_computation(tmp_path):
    store = tmp_path / "store"
    plan = plan_of(["task=seg", "sweep=full", f"store={store}", "plan_gpus=16",
                    "throughput.tasks.seg.tflops=10", "throughput.tasks.seg.step_overhead_ms=5"])
    codes = load_frozen()
    assert [job.code for job in plan.to_run] == [c.to_string() for c in codes]
    seconds = [seg_gpu_seconds(c, 0.005, 10.0) for c in codes]
    assert plan.gpu_hours == pytest.approx(sum(seconds) / 3600, rel=1e-9)
    walls = [s / 8 for s in seconds]  # 16 GPUs run two 8-GPU jobs at once
    assert plan.wall_seconds() == pytest.approx(max(sum(walls) / 2, max(walls)), rel=1e-9)
    # 5 kept checkpoints (every 5,000 iterations) of fp32 weights + SGD momentum
    assert plan.checkpoint_bytes.sum() == pytest.approx(sum(5 * 4 * 2 * cost(c, SEG).params for c in codes))
    assert plan.log_bytes == 2500 * 2 * 80 * (25_000 // 50 + 5)
    text = plan.text()
    assert f"GPU-hours: {sum(seconds) / 3600:,.0f} for the 2,500 jobs to run" in text
    assert "does not exist yet" in text and "+-50%" in text and "one NVIDIA H200" in text
    assert not store.exists()  # read if there, never created


def test_a_plan_on_a_store_with_some_jobs_done_counts_only_what_the_sweep_would_run(tmp_path):
    uri = str(tmp_path / "store")
    run = build_plan(compose_run(["plan=true", "task=seg", "sweep=full", "sweep.stop=10", f"store={uri}"]), TASKS)
    assert run.experiment is None and "cityscapes" in run.unchecked  # no dataset here: identity unknown
    data = DataSource("real", "/data/cityscapes", "files:" + "ab" * 8)
    checked = replace(run, experiment=Experiment(TASKS.get("seg"), run.recipe, data), unchecked=None)
    codes = load_frozen()[:10]
    store = Store.open(uri)

    def commit(code: ArchCode, attempt: int, ok: bool) -> None:
        spec = JobSpec(code, "seg", 0, run.recipe, data, "work")
        result = JobResult({"mIoU": 60.0, "mAcc": 70.0, "aAcc": 90.0}, wall_seconds=1.0) if ok else None
        store.commit_run(RunRecord.from_job(spec, result, attempt=attempt, error=None if ok else "job_error: boom",
                                            host="h", git_sha="0" * 40, packages={}))

    for code in codes[:3]:
        commit(code, 1, True)
    commit(codes[3], 1, False)  # one attempt left of 3: rerun
    for attempt in (1, 2, 3):
        commit(codes[4], attempt, False)  # out of attempts: reported, not run

    plan = make_plan(checked)
    expected = [codes[3]] + codes[5:]
    assert sorted(j.code for j in plan.to_run) == sorted(c.to_string() for c in expected)
    assert "3 done, 6 to run (1 of them failed before and have attempts left), " in plan.resume
    assert "1 failed with no attempts left" in plan.resume
    calibration = plan.calibration
    by_hand = sum(seg_gpu_seconds(c, calibration.step_overhead_s, calibration.tflops) for c in expected)
    assert plan.gpu_hours == pytest.approx(by_hand / 3600, rel=1e-9)

    unchecked = make_plan(run)  # the same store without the dataset: everything counted, and said so
    assert len(unchecked.to_run) == 10
    assert "NOT checked" in unchecked.resume and "a succeeded run of 3 of them" in unchecked.resume


def test_the_smoke_sweep_plan_gives_storage_and_says_why_there_are_no_gpu_hours(tmp_path):
    plan = plan_of(["task=cls_a", f"store={tmp_path / 'store'}"])  # sweep=smoke is the default
    assert len(plan.to_run) == 3 and plan.gpu_seconds is None and "data=toy" in plan.no_compute
    toy = CostSpec("cls", (32, 32), 6)  # conf/smoke/toy_cls_a.yaml: 32x32 crops, 6 classes; keeps epochs 3 and 6
    params = sum(cost(ArchCode.from_string(j.code), toy).params for j in plan.to_run)
    assert plan.checkpoints == 2 and plan.checkpoint_bytes.sum() == pytest.approx(2 * 4 * 2 * params)
    assert "no GPU-hour estimate" in plan.text()


def test_the_published_sweep_with_a_shard_plans_that_shard(tmp_path):
    plan = plan_of(["task=cls_a", "sweep=published", "sweep.shard_index=1", "sweep.num_shards=4",
                    f"store={tmp_path / 'store'}", "plan_gpus=8"])
    assert [j.code for j in plan.to_run] == [c.to_string() for c in load_published()[1::4]]
    assert plan.wall_seconds() == pytest.approx(max(plan.gpu_seconds.sum() / 8, plan.gpu_seconds.max() / 2))


def test_plan_gpus_must_be_positive(tmp_path):
    with pytest.raises(ConfigError, match="plan_gpus=0 is invalid"):
        build_plan(compose_run(["plan=true", "plan_gpus=0", f"store={tmp_path}"]), TASKS)


@pytest.mark.parametrize("override, message", [
    ("progress_interval_s=0", "progress_interval_s=0.0 is invalid; valid is seconds > 0"),
    ("poll_s=-1", "poll_s=-1.0 is invalid; valid is seconds > 0"),
    ("dependency_wait_s=-5", "dependency_wait_s=-5.0 is out of range"),
    ("resources.small_max_gflops=-1", "resources.small_max_gflops=-1.0 is out of range"),
])
def test_bad_seconds_and_thresholds_are_refused_before_anything_runs(tmp_path, override, message):
    with pytest.raises(BenchError, match=re.escape(message)):
        build_plan(compose_run(["plan=true", override, f"store={tmp_path}"]), TASKS)


def test_plan_dot_gpus_points_at_plan_gpus(capsys):
    from bench.cli import precheck

    with pytest.raises(SystemExit) as exit_info:
        precheck("run", ["task=seg", "plan=true", "plan.gpus=8"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: unknown key plan.gpus: plan is a single value (True), not a group of keys; did you mean plan_gpus=...?")


@pytest.mark.parametrize("setting", setting_names(trainable=True))
@pytest.mark.parametrize("data", ["real", "toy"])
def test_kept_checkpoints_are_what_the_engine_leaves(setting, data, tmp_path):
    from tasks.engine.checkpoint import checkpoint_name, list_checkpoints, prune

    recipe = build_plan(compose_run(["plan=true", f"task={setting}", f"data={data}"]), TASKS).recipe
    sched, ck = recipe.schedule, recipe.checkpoint
    for step in range(1, sched.length + 1):  # tasks/engine/loop.py's _at_boundary: when a checkpoint is written
        if step == sched.length or step % recipe.eval.interval == 0 or step % ck.save_interval == 0 or step in ck.keep:
            (tmp_path / checkpoint_name(sched.unit, step)).touch()
            prune(tmp_path, set(ck.keep) | {sched.length}, ck.keep_last)
    assert kept_checkpoints(recipe) == len(list_checkpoints(tmp_path))


def test_the_h200_table_reproduces_the_measurements_it_was_fitted_to():
    from bench.sched.throughput import calibrate

    table = build_plan(compose_run(["plan=true"]), TASKS).throughput
    for task, tolerance in (("cls", 0.10), ("det3d", 1e-3)):
        c = calibrate(table, task)
        for point in table.tasks[task].points:
            gflops = cost(ArchCode.from_string(point.code), table.tasks[task].spec).gflops
            assert point.batch / c.step_seconds(point.batch, gflops) == pytest.approx(point.per_s, rel=tolerance)
    video, cls = calibrate(table, "video"), calibrate(table, "cls")
    assert (video.step_overhead_s, video.tflops, video.worst_error) == (cls.step_overhead_s, cls.tflops, None)
    assert calibrate(table, "seg").step_overhead_s == 0.0  # its larger code was measured faster: no line fits


def test_the_fit_recovers_a_known_line_and_refuses_what_it_cannot_use():
    from bench.errors import BenchError
    from bench.sched.throughput import MeasuredPoint, TaskThroughput, ThroughputTable, calibrate

    codes = load_frozen()[:3]
    spec = CostSpec("cls", (64, 64), 10)
    # samples/s of a GPU with 30 ms per step and 5 TFLOP/s, at batch 32
    points = tuple(MeasuredPoint(c.to_string(), 32, 32 / (0.03 + 32 * cost(c, spec).flops / 5e12)) for c in codes)
    fitted = calibrate(ThroughputTable("test card", {"cls": TaskThroughput("made up", spec, points)}), "cls")
    assert (fitted.step_overhead_s, fitted.tflops) == (pytest.approx(0.03), pytest.approx(5.0))
    assert fitted.worst_error == pytest.approx(0.0, abs=1e-9)
    overridden = calibrate(ThroughputTable("c", {"cls": TaskThroughput("m", spec, points, tflops=2.0)}), "cls")
    assert overridden.tflops == 2.0 and overridden.step_overhead_s == pytest.approx(0.03)
    assert overridden.worst_error is None  # overridden: no longer a fit of the points
    with pytest.raises(BenchError, match="no row for task 'seg'.*'cls'"):
        calibrate(ThroughputTable("c", {"cls": TaskThroughput("m", spec, points)}), "seg")
    with pytest.raises(BenchError, match="like='video' is invalid"):
        calibrate(ThroughputTable("c", {"video": TaskThroughput(like="video")}), "video")
    with pytest.raises(BenchError, match="no usable rate"):
        calibrate(ThroughputTable("c", {"cls": TaskThroughput("nothing measured")}), "cls")


def test_the_launcher_prints_the_plan_without_starting_ray_or_a_store(tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError("plan=true started Ray")

    monkeypatch.setattr(ray, "init", refuse)
    spec = importlib.util.spec_from_file_location("run_launcher", REPO / "launch" / "run.py")
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)
    store = tmp_path / "store"
    assert launcher.body(compose_run(["task=det3d", "sweep=full", "sweep.stop=5", "plan=true", f"store={store}"])) == 0
    out = capsys.readouterr().out
    assert "[det3d] cost plan of sweep full" in out and "5 kept per job" in out and not store.exists()


@pytest.mark.slow  # two Hydra runs in a subprocess (~25 s on 2 cores)
def test_a_multirun_prints_one_plan_per_setting_and_exits_0(tmp_path):
    store = tmp_path / "store"
    done = subprocess.run([sys.executable, str(REPO / "launch" / "run.py"), "-m", "task=seg,cls_a", "sweep=full",
                           "sweep.stop=20", "plan=true", f"store={store}"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for setting in ("seg", "cls_a"):
        assert f"[{setting}] cost plan of sweep full (nothing is started): 20 jobs" in done.stdout
        assert math.isfinite(float(done.stdout.split(f"[{setting}] GPU-hours: ")[1].split()[0].replace(",", "")))
    assert not store.exists()
