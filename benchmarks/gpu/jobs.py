"""Every task family's REAL job, through the entry point users call, on generated data at GPU-sized batches.

Each run is ``python launch/train.py task=<setting> data=toy ...`` in its own process, wrapped by
``benchmarks/gpu/probe.py`` (see there), rather than ``bench.training.train_one`` in the suite's
process: the resume check needs a process to kill; torch's peak-memory counters are per process;
and the time to first step should include what a user's job pays (imports, the CUDA context,
cuDNN autotuning), which a warmed-up suite process would hide. Each run has its own store and
work root, so no run finds another's result or checkpoint.

On a GPU a job is the setting's REAL recipe (``conf/task/<setting>.yaml``: input sizes, loader
workers, precision) at its per-GPU batch (total batch / GPUs), shortened to a few hundred steps
on the toy set scaled x8; the toy layer (``conf/smoke``) is kept only where the toy data needs it
(classes, manifests, clip lengths, crop scales, det3d's augmentation: what keeps the toy learnable in a
few hundred steps, so the loss check means something; none changes a step's cost). ``--quick`` runs
the toy recipes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
PROBE = REPO / "benchmarks" / "gpu" / "probe.py"
LOG_LINE = re.compile(r"iter (\d+)/\d+ loss (\S+)")
GPU_SCALE = 8  # toy samples x8: the per-GPU batches get 12-14 steps per epoch


def real_recipe(setting: str) -> dict[str, Any]:
    """The setting's recipe as written in ``conf/task/<setting>.yaml`` (without the toy layer)."""
    return yaml.safe_load((REPO / "conf" / "task" / f"{setting}.yaml").read_text())


def _value(recipe: dict, dotted: str) -> Any:
    for key in dotted.split("."):
        recipe = recipe[key]
    return recipe


def _yaml(value: Any) -> str:
    return json.dumps(value)  # a Hydra override value: JSON lists and numbers parse as YAML


@dataclass(frozen=True)
class JobPlan:
    """One real job: its setting, per-device batch and recipe overrides; ``frames`` per sample for video."""

    name: str
    setting: str
    batch: int
    overrides: tuple[str, ...]
    unit: str
    frames: int = 1


def _real(setting: str, keys: tuple[str, ...], extra: dict[str, Any]) -> tuple[int, tuple[str, ...]]:
    recipe = real_recipe(setting)
    runtime = recipe["runtime"]
    batch = runtime["batch_size"] // runtime["gpus"]  # one GPU's share of the paper's total batch
    values = {k: _value(recipe, k) for k in (*keys, "runtime.workers")}
    values |= {"runtime.gpus": 1, "runtime.batch_size": batch} | extra
    # "++": set the key whether or not the setting's YAML has it (the recipe's parser still refuses unknown keys).
    return batch, tuple(f"++task.{k}={_yaml(v)}" for k, v in values.items())


def gpu_plans(log_every: int) -> list[JobPlan]:
    """The five GPU jobs (cls twice: the default precision and fp16 + GradScaler)."""
    from tasks.toydata.cityscapes import split_sizes

    log = {"runtime.log_interval": log_every}
    short = {"schedule.length": 15, "eval.interval": 5, "checkpoint.keep": [15], "checkpoint.save_interval": 5}
    # Not the real augment.scale: a crop of 8% of a 40x48 toy image may miss the object; the rate is the same.
    cls_keys = ("augment.crop_size", "augment.eval_resize")
    batch, cls = _real("cls_a", cls_keys, short | log)
    _, fp16 = _real("cls_a", cls_keys, log | {"runtime.precision": "fp16", "schedule.length": 6, "eval.interval": 3,
                                              "checkpoint.keep": [6], "checkpoint.save_interval": 3})
    sizes = split_sizes(GPU_SCALE)
    seg_batch, seg = _real("seg", ("augment.base_size", "augment.crop_size"), log | {
        "data.expected_train": sizes["train"], "data.expected_val": sizes["val"], "schedule.length": 150,
        "eval.interval": 75, "checkpoint.keep": [150], "checkpoint.save_interval": 50})
    # Toy clips have 16 frames: the real 8 frames 8 apart cannot fit, 8 frames 2 apart (a 15-frame window) do.
    frames = real_recipe("video")["clip"]["num_frames"]
    video_batch, video = _real("video", ("clip.num_frames", "augment.resize_shorter", "augment.crop_size"),
                               short | log | {"clip.interval": 2, "data.min_frames": 16})
    det_keys = tuple(f"model.{k}" for k in ("point_range", "pillar_size", "max_pillars_train", "max_pillars_test", "max_points"))
    # The real learning rate too: the toy recipe's 0.01 was tuned for its 40 x 40 grid.
    det_batch, det = _real("det3d", (*det_keys, "optim.lr"), log | {"schedule.length": 4, "eval.interval": 4})
    return [JobPlan("cls", "cls_a", batch, cls, "images"), JobPlan("cls_fp16", "cls_a", batch, fp16, "images"),
            JobPlan("seg", "seg", seg_batch, seg, "images"), JobPlan("video", "video", video_batch, video, "frames", frames),
            JobPlan("det3d", "det3d", det_batch, det, "point clouds")]


def quick_plans(log_every: int) -> list[JobPlan]:
    """The toy recipes (conf/smoke) on a CPU, long enough for a checkpoint mid-way and a falling loss.

    No fp16 job: on a CPU every precision resolves to fp32, so it would repeat the cls job."""
    log = f"++task.runtime.log_interval={log_every}"
    return [
        JobPlan("cls", "cls_a", 16, (log, "task.schedule.length=4", "task.eval.interval=2", "task.checkpoint.keep=[4]"), "images"),
        JobPlan("seg", "seg", 4, (log, "task.schedule.length=40", "task.eval.interval=20", "task.checkpoint.keep=[40]"), "images"),
        JobPlan("video", "video", 8, (log, "task.schedule.length=8", "task.eval.interval=4"), "frames", 4),
        JobPlan("det3d", "det3d", 4, (log, "task.runtime.batch_size=4", "task.schedule.length=1", "task.eval.interval=1"),
                "point clouds"),
    ]


def prepare_toy(root: Path, scale: int) -> dict[str, float]:
    """Generate every toy set once, before any job (generation is not the jobs' start-up); seconds each."""
    from tasks.det3d.toy import ensure_toy_kitti
    from tasks.toydata import ensure_toy

    seconds = {}
    for dataset in ("imagenet", "cityscapes", "hmdb51"):
        start = time.perf_counter()
        ensure_toy(dataset, root / dataset, scale)
        seconds[dataset] = time.perf_counter() - start
    start = time.perf_counter()
    ensure_toy_kitti(root / "kitti")  # 96 frames already give batch 2 48 steps an epoch
    seconds["kitti"] = time.perf_counter() - start
    return seconds


@dataclass
class Run:
    """One launched job process and where its outputs go."""

    plan: JobPlan
    folder: Path
    proc: subprocess.Popen
    launched: float


def launch(plan: JobPlan, folder: Path, toy_root: Path, code: str, device: str, every: int,
           kill_after: int = 0) -> Run:
    """Start ``plan`` as ``launch/train.py`` under the probe, its store and work root in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, str(PROBE), str(folder / f"probe-{time.time_ns()}.json"), f"task={plan.setting}", "data=toy",
            f"data.toy_root={toy_root}", f"code={code}", f"store={folder / 'store'}", f"work_root={folder / 'work'}",
            f"devices=[{device}]", *plan.overrides]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "GPU_SUITE_PROBE_EVERY": str(every), "GPU_SUITE_WORK_ROOT": str(folder / "work"),
           "GPU_SUITE_KILL_AFTER_CHECKPOINT": str(kill_after), "PYTHONUNBUFFERED": "1"}
    with open(folder / "output.log", "ab") as output:
        proc = subprocess.Popen(args, cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT)
    return Run(plan, folder, proc, time.time())


Chain = list[Callable[[], Run]]
"""Runs one after another (a job killed, then resumed): each callable launches the next once the last has exited."""


def run_chains(chains: list[Chain], parallel: int, timeout_s: float) -> list[list[Run]]:
    """Run ``chains`` with at most ``parallel`` of them at a time; each chain's runs, in order.

    A run still going ``timeout_s`` after its launch is killed (a hung job cannot stall the suite)."""
    done: list[list[Run]] = [[] for _ in chains]
    waiting = list(range(len(chains)))
    active: dict[int, Run] = {}
    while waiting or active:
        while waiting and len(active) < parallel:
            i = waiting.pop(0)
            active[i] = chains[i][0]()
        time.sleep(0.1)
        for i, run in list(active.items()):
            if run.proc.poll() is None and time.time() > run.launched + timeout_s:
                run.proc.kill()
            if run.proc.poll() is None:
                continue
            done[i].append(run)
            del active[i]
            if len(done[i]) < len(chains[i]):
                active[i] = chains[i][len(done[i])]()
    return done


def _losses(folder: Path) -> tuple[list[tuple[int, float]], str]:
    log = next((folder / "work").rglob("train.log"), None)
    text = log.read_text() if log else ""
    return [(int(i), float(v)) for i, v in LOG_LINE.findall(text)], text


def _stored(folder: Path, setting: str) -> tuple[dict, list[tuple[int, str, float]]]:
    """The newest attempt's run row (info decoded) and its curve, from the run's store."""
    from bench.store import Store

    store_dir = folder / "store"
    if not store_dir.exists():
        return {}, []
    store = Store.open(str(store_dir))
    rows = store.load_runs(setting).to_pylist()
    if not rows:
        return {}, []
    row = max(rows, key=lambda r: r["attempt"])
    curve = [(c["step"], c["metric"], c["value"]) for c in store.load_curves(setting).to_pylist()
             if c["attempt"] == row["attempt"]]
    keep = ("status", "error", "gpu_model", "gpu_hours", "wall_seconds", "attempt")
    return {**{k: row.get(k) for k in keep}, "info": json.loads(row["info_json"] or "{}")}, sorted(curve)


def collect(run: Run) -> dict:
    """What one finished run measured: rates, start-up, memory, losses, its stored result."""
    plan, folder = run.plan, run.folder
    probes = sorted(folder.glob("probe-*.json"))
    probe = json.loads(probes[-1].read_text()) if probes else {}
    losses, _ = _losses(folder)
    stored, curve = _stored(folder, plan.setting)
    marks = probe.get("marks", [])
    per_sample = plan.batch * plan.frames
    windows = [(b[0] - a[0]) * per_sample / (b[1] - a[1]) for a, b in zip(marks[1:], marks[2:]) if b[1] > a[1]]
    out = {
        "setting": plan.setting, "batch": plan.batch, "unit": plan.unit, "overrides": list(plan.overrides),
        "exit": run.proc.returncode, "wall_s": time.time() - run.launched,
        "time_to_first_step_s": marks[0][1] - run.launched if marks else None,
        # The median window: robust to the windows that hold an evaluation or a checkpoint.
        f"{plan.unit.replace(' ', '_')}_per_s": median(windows) if windows else None,
        "end_to_end_per_s": ((marks[-1][0] - marks[1][0]) * per_sample / (marks[-1][1] - marks[1][1])
                             if len(marks) > 2 and marks[-1][1] > marks[1][1] else None),
        "steps": probe.get("steps"), "peak_allocated_bytes": probe.get("peak_allocated"),
        "peak_reserved_bytes": probe.get("peak_reserved"), "losses": losses, "curve": curve, **stored,
    }
    if len(losses) >= 6:
        first, last = (sum(v for _, v in part) / 3 for part in (losses[:3], losses[-3:]))
        out.update(loss_first=first, loss_last=last, loss_fell=last < first)
    else:
        out.update(loss_first=None, loss_last=None, loss_fell=False)
    if out["exit"] != 0:
        out["output_tail"] = (folder / "output.log").read_text(errors="replace")[-2000:]
    return out


def checkpoints_in(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of every checkpoint under a run folder's work root now."""
    from tasks.engine.checkpoint import list_checkpoints

    return [item for d in {p.parent for p in (folder / "work").rglob("ckpt-*.pt")} for item in list_checkpoints(d)]


def resume_check(straight: dict, killed: Run, found: list[tuple[int, Path]], resumed: dict, device_type: str,
                 log_every: int) -> dict:
    """Compare a killed-and-resumed job with the uninterrupted one (``straight``).

    Exact bookkeeping: the killed process died of SIGKILL after it had logged work past a checkpoint;
    the resumed one starts at the newest checkpoint (``resumed_from_step``) and logs exactly the
    iterations after it, none repeated or skipped; the curve has the same steps. Values: on a CPU the
    curve must be identical (the engine is deterministic there). On CUDA two runs of one job differ by
    themselves (cuDNN's autotuned algorithms, atomic adds in the backward of interpolation and pooling),
    so the killed run, which IS the uninterrupted job up to its kill, measures that spread: the resumed
    run's first logged losses must agree with the uninterrupted run's within 3x it (at least 1%: bf16
    rounding); a wrong batch, weight or schedule after resume shows as far more. Both curves are kept.
    ``found``: the checkpoints there were when the killed process had died.
    """
    newest = max(found, default=None)
    _, text = _losses(killed.folder)
    before, _, after = text.partition("resuming")
    killed_losses = {int(i): float(v) for i, v in LOG_LINE.findall(before)}
    resumed_losses = [(int(i), float(v)) for i, v in LOG_LINE.findall(after)]
    straight_losses = dict(straight["losses"])
    info = resumed.get("info", {})
    resumed_from, total = info.get("resumed_from_step"), info.get("total_iterations") or 0
    per_step = info.get("steps_per_epoch", 1) if newest and "epoch" in newest[1].name else 1
    ckpt_iteration = newest[0] * per_step if newest else 0
    expected = [i for i in range(ckpt_iteration + 1, total + 1) if i % log_every == 0 or i == total]
    noise = max((abs(v - straight_losses[i]) for i, v in killed_losses.items() if i in straight_losses), default=0.0)
    first = resumed_losses[:3]
    delta = max((abs(v - straight_losses.get(i, float("inf"))) for i, v in first), default=float("inf"))
    size = max((abs(v) for _, v in first), default=1.0)
    tol = max(3 * noise, 1e-4 + (1e-2 * size if device_type == "cuda" else 0.0))  # 1e-4: the log's 4 decimals
    straight_curve, resumed_curve = straight["curve"], resumed["curve"]
    same_steps = [(s, m) for s, m, _ in straight_curve] == [(s, m) for s, m, _ in resumed_curve]
    diffs = [abs(a[2] - b[2]) for a, b in zip(straight_curve, resumed_curve)] if same_steps else []
    identical = same_steps and all(d == 0.0 for d in diffs)
    checks = {
        "killed_by_sigkill": killed.proc.returncode == -signal.SIGKILL,
        "killed_after_logging_past_checkpoint": newest is not None and max(killed_losses, default=0) > ckpt_iteration,
        "resumed_from_newest_checkpoint": newest is not None and resumed_from == newest[0],
        "logs_exactly_the_iterations_after_it": bool(expected) and [i for i, _ in resumed_losses] == expected,
        "resumed_succeeded": resumed.get("exit") == 0 and resumed.get("status") == "succeeded",
        "same_curve_steps": same_steps and bool(straight_curve),
        "first_losses_agree": delta <= tol,
    }
    if device_type != "cuda":
        checks["curve_identical"] = identical
    return {"checks": checks, "passed": all(checks.values()), "checkpoint_steps": sorted(s for s, _ in found),
            "resumed_from_step": resumed_from, "checkpoint_iteration": ckpt_iteration,
            "killed_at_iteration": max(killed_losses, default=None), "noise_before_kill": noise,
            "first_losses_delta": delta, "tolerance": tol, "curve_identical": identical,
            "curve_max_abs_diff": max(diffs, default=None), "curve_resumed": resumed_curve,
            "killed_exit": killed.proc.returncode}
