"""The GPU suite (benchmarks/gpu_suite.py) between GPU sessions: its ``--device cpu --quick`` mode runs here, its GPU
job plans compose into valid recipes, and its resume check fails when a resume is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.training import parse_train
from benchmarks.gpu import jobs
from benchmarks.gpu.steps import CODES, published_codes
from tasks import TASKS
from tasks.toydata import hmdb51
from tasks.toydata.cityscapes import split_sizes
from tests.tasks.conftest import TINY, compose_train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One ``--device cpu --quick`` run of the suite, as a user (or the device session) starts it."""
    tmp = tmp_path_factory.mktemp("suite")
    out = tmp / "suite.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_suite.py"), "--device", "cpu", "--quick",
                           "--out", str(out), "--work", str(tmp / "work")], cwd=tmp, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return json.loads(out.read_text()), done.stdout, tmp


@pytest.mark.slow
def test_quick_run_measures_every_section_on_the_named_machine(quick):
    report, printed, tmp = quick
    assert report["env"]["card"].startswith("CPU") and report["env"]["torch"] and report["env"]["default_precision"] == "fp32"
    assert "card: CPU" in printed and "all checks passed: True" in printed
    assert not report["errors"] and set(report["skipped"]) == {"graphs"}  # CUDA graphs need CUDA, nothing else is skipped
    assert report["codes"]["verified_against_published"] in (True, None)  # None where ../shared is absent
    for name in ("p10", "median", "p90"):
        row = report["steps"]["rows"][name]
        assert row["code"] == CODES[name]
        assert all(row[m]["images_per_s"] > 0 and row[m]["precision"] == "fp32" for m in ("default", "fp32_eager", "fp16"))
    assert all(report["pipeline"][k] > 0 for k in ("device_decode_augment", "decode_only", "cpu_decode_augment"))
    assert all(report["det3d_steps"][m]["ms_per_step"] > 0 for m in ("fp32", "bf16", "fp16"))
    assert report["packing"]["aggregate_images_per_s"] > 0 and report["compile"]["compiled_images_per_s"] > 0
    assert report["compile"]["break_even"]["full_job_images"] == 5_000_000  # start-up weighed against a full cls_a job
    profile = report["profile"]["median_default"]
    assert abs(sum(profile["categories_share"].values()) - 1) < 1e-6
    assert profile["categories_share"]["convolution"] > 0 and profile["categories_share"]["batch_norm"] > 0
    assert (tmp / "suite.profile.txt").read_text().count("Self CPU time total") == 2  # the median step's table and det3d's


@pytest.mark.slow
def test_quick_run_trains_every_task_through_launch_and_the_loss_falls(quick):
    report, _, _ = quick
    runs = report["jobs"]["runs"]
    assert set(runs) == {"cls", "seg", "video", "det3d"}  # cls_fp16 only on a GPU: on a CPU fp16 resolves to fp32
    for name, run in runs.items():
        assert run["exit"] == 0 and run["status"] == "succeeded", (name, run.get("output_tail"))
        assert run["loss_fell"] and run["loss_last"] < run["loss_first"], name
        assert run["time_to_first_step_s"] > 0 and run["end_to_end_per_s"] > 0, name
        assert run["info"]["precision"] == "fp32" and run["info"]["device"] == "cpu" and run["curve"], name
    assert runs["video"]["unit"] == "frames" and runs["det3d"]["unit"] == "point clouds"


@pytest.mark.slow
def test_quick_run_kills_a_job_after_its_checkpoint_and_resumes_it_identically(quick):
    report, _, _ = quick
    resume = report["resume"]["cls"]
    assert resume["passed"] and all(resume["checks"].values()), resume["checks"]
    assert resume["killed_exit"] == -9 and resume["resumed_from_step"] >= 1 and resume["curve_identical"]
    assert resume["killed_at_iteration"] > resume["checkpoint_iteration"]


@pytest.mark.slow
def test_renderer_names_the_card_on_every_number_and_refuses_cpu_runs_by_default(quick, tmp_path):
    report, _, tmp = quick
    doc = tmp_path / "performance.md"
    render = [sys.executable, str(REPO / "benchmarks" / "render_performance.py"), str(tmp / "suite.json"), "--out", str(doc)]
    refused = subprocess.run(render, capture_output=True, text=True, check=False)
    assert refused.returncode == 2 and "CPU run" in refused.stderr and not doc.exists()
    assert subprocess.run([*render, "--allow-cpu"], check=False).returncode == 0
    text = doc.read_text()
    card = report["env"]["card"]
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| card"):
            assert line.startswith(f"| {card}"), line
    assert "gpu_suite.py --out $OUT/gpu_suite.json" in text  # the device command comes from the script's docstring


def _recipe(plan: jobs.JobPlan, toy_root: Path):
    cfg = compose_train([f"task={plan.setting}", "data=toy", f"code={TINY}", "store=unused", f"data.toy_root={toy_root}",
                         *plan.overrides])
    return parse_train(cfg, TASKS)[1].recipe


def test_gpu_plans_are_the_real_recipes_at_one_gpus_batch_with_a_checkpoint_before_the_end(tmp_path):
    plans = {p.name: p for p in jobs.gpu_plans(10)}
    assert set(plans) == {"cls", "cls_fp16", "seg", "video", "det3d"}
    recipes = {name: _recipe(plan, tmp_path) for name, plan in plans.items()}
    for name, recipe in recipes.items():
        real = jobs.real_recipe(plans[name].setting)["runtime"]
        assert recipe.runtime.batch_size == plans[name].batch == real["batch_size"] // real["gpus"], name
        assert recipe.runtime.gpus == 1 and recipe.runtime.workers == real["workers"], name
        sched, ck = recipe.schedule, recipe.checkpoint
        # The resume check kills the job past its first checkpoint: one must come before the last step.
        assert min([ck.save_interval, recipe.eval.interval, *ck.keep]) < sched.length, name
    assert recipes["cls"].augment.crop_size == 224 and recipes["cls"].runtime.precision == "auto"
    assert recipes["cls_fp16"].runtime.precision == "fp16"
    assert recipes["seg"].augment.crop_size == (512, 1024)
    assert recipes["seg"].data.expected_train == split_sizes(jobs.GPU_SCALE)["train"]
    clip = recipes["video"].clip
    assert clip.num_frames == 8 and (clip.num_frames - 1) * clip.interval + 1 <= recipes["video"].data.min_frames <= hmdb51.FRAMES
    grid = recipes["det3d"].model.grid
    assert (grid.ny, grid.nx) == (496, 432) and recipes["det3d"].runtime.precision == "fp32"


def test_published_codes_are_the_embedded_literals():
    found = published_codes()
    if found is None:
        pytest.skip("../shared/nasbench_mr/cls-50-1000.pkl is not on this machine")
    assert found == CODES


def _fake_chain(tmp_path: Path, after: str, resumed_from: int = 1, exit_code: int = -9):
    """A killed run (log, exit code) and its resumed result: 4 iterations an epoch, logged every 2, 8 in all."""
    log = tmp_path / "work" / "job" / "train.log"
    log.parent.mkdir(parents=True)
    log.write_text("iter 2/8 loss 1.0000\niter 4/8 loss 0.9000\niter 6/8 loss 0.8000\nresuming cls_a from epoch 1\n" + after)
    killed = jobs.Run(plan=None, folder=tmp_path, proc=SimpleNamespace(returncode=exit_code), launched=0.0)
    curve = [(2, "top1", 50.0)]
    straight = {"losses": [(2, 1.0), (4, 0.9), (6, 0.8), (8, 0.7)], "curve": curve}
    resumed = {"exit": 0, "status": "succeeded", "curve": curve,
               "info": {"resumed_from_step": resumed_from, "total_iterations": 8, "steps_per_epoch": 4}}
    return straight, killed, [(1, Path("ckpt-epoch-00000001.pt"))], resumed


def test_resume_check_passes_a_good_resume_and_fails_wrong_ones(tmp_path):
    good = jobs.resume_check(*_fake_chain(tmp_path / "a", "iter 6/8 loss 0.8000\niter 8/8 loss 0.7000\n"), "cpu", 2)
    assert good["passed"], good["checks"]
    repeated = jobs.resume_check(*_fake_chain(tmp_path / "b", "iter 4/8 loss 0.9\niter 6/8 loss 0.8\niter 8/8 loss 0.7\n"),
                                 "cpu", 2)
    assert not repeated["checks"]["logs_exactly_the_iterations_after_it"]
    drifted = jobs.resume_check(*_fake_chain(tmp_path / "c", "iter 6/8 loss 0.8500\niter 8/8 loss 0.7000\n"), "cpu", 2)
    assert not drifted["checks"]["first_losses_agree"]
    # On CUDA 1% of the loss is rounding, not a wrong resume.
    assert jobs.resume_check(*_fake_chain(tmp_path / "d", "iter 6/8 loss 0.8050\niter 8/8 loss 0.7\n"), "cuda", 2)["passed"]
    early = jobs.resume_check(*_fake_chain(tmp_path / "e", "iter 6/8 loss 0.8\niter 8/8 loss 0.7\n", resumed_from=0), "cpu", 2)
    assert not early["checks"]["resumed_from_newest_checkpoint"]
    clean_exit = jobs.resume_check(*_fake_chain(tmp_path / "f", "iter 6/8 loss 0.8\niter 8/8 loss 0.7\n", exit_code=0), "cpu", 2)
    assert not clean_exit["checks"]["killed_by_sigkill"]
