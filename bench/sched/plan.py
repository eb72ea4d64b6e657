"""The cost plan of a sweep, before anything runs: jobs after resume, GPU-hours, time on N GPUs, disk.

    python launch/run.py task=seg sweep=full plan=true [plan_gpus=64] [throughput.tasks.seg.tflops=20]
    python launch/run.py -m task=seg,cls_a sweep=full plan=true      # one plan per setting

Nothing starts: no Ray, no dataset read beyond identifying it, and the store is read only if it
exists (never created). The jobs are the sweep's own (:func:`bench.sched.sweep.select_jobs`) and
so is resume (:func:`bench.store.resume_status` for the run identity, then
:func:`bench.sched.driver.plan_attempts`), so the plan counts what ``execute`` would run. Without
the dataset the run identity is unknown: the plan says so and counts every selected job.

Compute per job: training steps (epochs x floor(samples per epoch / batch), or iterations) x
(GPUs x step overhead + batch x forward GFLOPs per sample / rate), with the overhead and rate of
:mod:`bench.sched.throughput`. Storage per job: the checkpoints the recipe keeps (the engine's
keep rule, replayed) x 4 bytes x (1 + optimiser state per parameter) x closed-form parameters,
plus the log's two copies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bench.code import FIELD_NAMES, ArchCode
from bench.cost import cost_batch
from bench.errors import BenchError
from bench.guard import refuse_mixing
from bench.recipe import Recipe
from bench.sched.config import PlanRun
from bench.sched.driver import plan_attempts
from bench.sched.jobs import SweepJob
from bench.sched.progress import format_duration
from bench.sched.sweep import existing_store, no_import_store, select_jobs
from bench.sched.throughput import Calibration, calibrate
from bench.settings import get_setting
from bench.store import Store, resume_status

FLOAT_BYTES = 4  # checkpoints hold fp32 weights and optimiser state, whatever precision trained them
OPTIMIZER_SLOTS = {"sgd": 1, "adam": 2, "adamw": 2}  # state per parameter: momentum; first and second moments
LOG_LINE_BYTES = 80  # "2026-11-30 15:01:35,123 INFO iter 100/31200 loss 2.3456 lr 0.099987" is 68; evaluations: more
LOG_COPIES = 2  # the job's train.log in its work dir and the attempt's log in the store
DEFAULT_GPUS = 8  # one node, when neither plan_gpus nor a local Ray's ray.num_gpus says


def kept_checkpoints(recipe: Recipe) -> int:
    """How many checkpoints a finished job leaves: the engine's rule (tasks/engine/loop.py) replayed.

    A checkpoint is written at every ``save_interval``, every kept step and every evaluation; after
    each write, all are deleted but ``checkpoint.keep``, the final step and the ``keep_last`` newest.
    """
    sched, ck = recipe.schedule, recipe.checkpoint
    length = sched.length
    forever = {s for s in ck.keep if s <= length} | {length}
    newest, step = [], length
    while step >= 1 and len(newest) < ck.keep_last:
        if step % ck.save_interval == 0 or step in forever or step % recipe.eval.interval == 0:
            newest.append(step)
        step -= 1
    return len(forever | set(newest))


def optimizer_slots(recipe: Recipe) -> int:
    """fp32 values of optimiser state per parameter (SGD without momentum keeps none)."""
    if recipe.optim.name == "sgd" and recipe.optim.momentum == 0:
        return 0
    return OPTIMIZER_SLOTS[recipe.optim.name]


def training_steps(recipe: Recipe, setting: str, synthetic: bool) -> int | None:
    """Optimiser steps of one job, or None when the data size is unknown (generated data)."""
    sched = recipe.schedule
    if sched.unit == "iter":
        return sched.length
    per_epoch = get_setting(setting).train_samples
    if synthetic or per_epoch is None:
        return None
    return sched.length * (per_epoch // recipe.runtime.batch_size)  # the engine drops the last partial batch


@dataclass
class Plan:
    """One setting's plan; :meth:`lines` is what ``plan=true`` prints."""

    run: PlanRun
    selected: int
    to_run: list[SweepJob]
    resume: str
    checkpoints: int = 0
    checkpoint_bytes: np.ndarray = field(default_factory=lambda: np.zeros(0))
    log_bytes: float | None = None
    gflops: np.ndarray | None = None  # forward GFLOPs per training sample, per job to run
    steps: int | None = None
    gpu_seconds: np.ndarray | None = None  # per job to run
    calibration: Calibration | None = None
    no_compute: str | None = None  # why there is no GPU-hour estimate
    gpus: int = DEFAULT_GPUS
    warnings: list[str] = field(default_factory=list)

    @property
    def gpu_hours(self) -> float:
        return float(self.gpu_seconds.sum()) / 3600 if self.gpu_seconds is not None else 0.0

    def wall_seconds(self) -> float | None:
        """Wall time on ``gpus`` GPUs: jobs of ``resources.gpus`` each, as many at once as fit (None: none fits)."""
        per_job = max(self.run.resources.gpus, 1e-9)
        slots = math.floor(self.gpus / per_job + 1e-9)
        if self.gpu_seconds is None or not len(self.gpu_seconds):
            return 0.0
        if slots < 1:
            return None
        walls = self.gpu_seconds / per_job
        return float(max(walls.sum() / slots, walls.max()))

    def lines(self) -> list[str]:
        run, tag = self.run, f"[{self.run.setting}]"
        recipe = run.recipe
        out = [f"{tag} cost plan of sweep {run.selection.name} (nothing is started): {self.selected:,} jobs selected "
               f"({self.selected // len(run.seeds):,} codes x {len(run.seeds)} seed(s)); store {run.store_uri}",
               f"{tag} resume: {self.resume}"]
        n = len(self.to_run)
        if self.gpu_seconds is not None:
            unit = "iterations" if recipe.schedule.unit == "iter" else "steps"
            hours = self.gpu_seconds / 3600
            out.append(f"{tag} compute: {self.steps:,} {unit} x batch {recipe.runtime.batch_size} on "
                       f"{_num(run.resources.gpus)} GPU(s) per job; forward GFLOPs per training sample "
                       f"{_spread(self.gflops)}")
            out.append(f"{tag} GPU-hours: {_hours(self.gpu_hours)} for the {n:,} jobs to run (per job "
                       f"{_spread(hours, _hours)}) at the rates of {self.calibration.card}")
            wall = self.wall_seconds()
            size = f"{self.gpus} GPUs" + ("" if run.gpus else " (one node; plan_gpus=N for your cluster's GPUs)")
            if wall is None:
                out.append(f"{tag} time: never on {size}: one job asks for {_num(run.resources.gpus)} GPUs")
            else:
                at_once = math.floor(self.gpus / max(run.resources.gpus, 1e-9) + 1e-9)
                out.append(f"{tag} time: {format_duration(wall)} on {size}, {min(at_once, n):,} job(s) at once")
        else:
            out.append(f"{tag} compute: no GPU-hour estimate: {self.no_compute}")
        logs = f" + {_bytes(self.log_bytes)} of logs" if self.log_bytes is not None else " (+ logs: not estimated)"
        total = _bytes(float(self.checkpoint_bytes.sum()))
        out.append(f"{tag} storage: {total} of checkpoints ({self.checkpoints} kept "
                   f"per job x {FLOAT_BYTES} bytes x (1 + {optimizer_slots(recipe)} {recipe.optim.name} state) x "
                   f"parameters; per job {_spread(self.checkpoint_bytes, _bytes)}){logs}")
        if self.calibration is not None and self.gpu_seconds is not None:
            out.append(f"{tag} calibration: {_describe(self.calibration)}")
            out.append(f"{tag} how rough: {_roughness(self.calibration, run.resources.gpus)}")
        out += [f"{tag} note: {w}" for w in self.warnings]
        return out

    def text(self) -> str:
        return "\n".join(self.lines())


def _describe(c: Calibration) -> str:
    fit = ("not fitted to measurements of this task" if c.worst_error is None
           else f"fitted to {c.points} measured code(s), off on them by up to {c.worst_error:.0%}")
    return (f"{c.task} on {c.card}: {c.step_overhead_s * 1e3:.1f} ms per GPU-step + forward FLOPs at "
            f"{c.tflops:.2f} TFLOP/s ({fit}); from {c.source}")


def _roughness(c: Calibration, gpus_per_job: float) -> str:
    # +-50%: refitting cls's line to other subsets of its measurements moves a full sweep's total by -39%..+17%
    # (benchmarks/plan_sensitivity.py); a task whose own points the fit misses by more is said to be rougher.
    bound = max(0.5, math.ceil((c.worst_error or 0.0) * 10) / 10)
    base = (f"a sketch, not a quote: expect the real total within about +-{bound:.0%} on the card named, a single "
            "job within a factor of 2. FLOPs predict speed only roughly (small codes are launch-bound, wide ones run "
            "tensor cores better), and the model leaves out data loading (it can bound classification and video on "
            f"few CPU cores), communication between a job's {_num(gpus_per_job)} GPUs, evaluation (under 1% of the "
            "compute), retries and queueing; a failed job that resumes from its checkpoint is counted in full. "
            "Another GPU model needs its own table (throughput=<card>)")
    if c.worst_error is None:
        return "NOT MEASURED for this task, borrowed from another: an order of magnitude only. " + base
    return base


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _hours(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}" if value < 10 else f"{value:,.1f}"


def _bytes(value: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:,.1f} {unit}"
    return f"{value:.0f} B"


def _spread(values: np.ndarray, fmt=lambda v: f"{v:,.2f}") -> str:
    if values is None or not len(values):
        return "(no jobs)"
    return f"median {fmt(float(np.median(values)))}, min {fmt(float(values.min()))}, max {fmt(float(values.max()))}"


def _resume(run: PlanRun, store: Store | None, jobs: list[SweepJob]) -> tuple[list[SweepJob], str, list[str]]:
    """The jobs ``execute`` would run, a line saying how that was found, and warnings."""
    if store is None:
        return jobs, f"store {run.store_uri} does not exist yet: all {len(jobs):,} jobs are to run", []
    keys = [job.key for job in jobs]
    if run.experiment is None:
        anywhere = len(resume_status(store, keys, None, run.options.max_attempts).done)
        return jobs, (f"NOT checked: the run identity needs the dataset ({run.unchecked}); counting all "
                      f"{len(jobs):,} jobs as to run (the store has a succeeded run of {anywhere:,} of them under "
                      f"some recipe and dataset)"), []
    experiment = run.experiment
    status = resume_status(store, keys, experiment.identity, run.options.max_attempts)
    warnings = []
    try:
        refuse_mixing(store, experiment, status, run.allow_synthetic)
    except BenchError as err:
        warnings.append(f"the sweep itself would stop here: {err}")
    attempts, done, spent = plan_attempts(status, jobs, run.options)
    retries = sum(1 for a in attempts if a.job.key in status.failed)
    line = (f"checked against the store for run identity {experiment.identity.tag}: {done:,} done, "
            f"{len(attempts):,} to run ({retries:,} of them failed before and have attempts left), {len(spent):,} "
            f"failed with no attempts left (sweep=retry_failed reruns them)")
    return [a.job for a in attempts], line, warnings


def _jobs(run: PlanRun, store: Store | None) -> list[SweepJob]:
    source = run.selection.source
    identity = run.experiment.identity if run.experiment is not None else None
    if source == "imported" and store is None:
        raise no_import_store(run.store_uri)
    if source == "retry_failed":
        if store is None:
            return []
        if identity is None:
            raise BenchError(f"a plan of sweep=retry_failed needs the dataset, to tell this recipe's failed runs from "
                             f"others: {run.unchecked}")
    return select_jobs(run.selection, run.setting, run.seeds, store, identity)


def make_plan(run: PlanRun) -> Plan:
    """The plan of ``run`` (see the module docstring); reads the store if it exists, starts nothing.

    Example:
        >>> import tempfile
        >>> from hydra import compose, initialize_config_dir
        >>> from bench.cli import CONF_DIR
        >>> from bench.sched.config import build_plan
        >>> from tasks import TASKS
        >>> with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        ...     cfg = compose("run", ["task=seg", "sweep=full", "plan=true", f"store={tempfile.mkdtemp()}/s"])
        >>> plan = make_plan(build_plan(cfg, TASKS))
        >>> len(plan.to_run), plan.checkpoints, plan.gpus
        (2500, 5, 8)
    """
    store = existing_store(run.store_uri)
    jobs = _jobs(run, store)
    to_run, resume, warnings = _resume(run, store, jobs)
    recipe = run.recipe
    plan = Plan(run, len(jobs), to_run, resume, warnings=warnings, gpus=run.gpus or DEFAULT_GPUS)
    if get_setting(run.setting).init_from:
        plan.warnings.append(f"each job starts from the same code's {get_setting(run.setting).init_from} checkpoint: "
                             f"run task={get_setting(run.setting).init_from} first (its cost is not included)")
    spec = recipe.sample_cost()
    codes = np.array([ArchCode.from_string(job.code).to_list() for job in to_run], dtype=np.int64)
    codes = codes.reshape(-1, len(FIELD_NAMES))
    params, flops = cost_batch(codes, spec) if spec is not None and len(codes) else (np.zeros(0), np.zeros(0))
    plan.checkpoints = kept_checkpoints(recipe)
    plan.checkpoint_bytes = plan.checkpoints * FLOAT_BYTES * (1 + optimizer_slots(recipe)) * params.astype(float)
    plan.steps = training_steps(recipe, run.setting, run.synthetic)
    if plan.steps is not None:
        evaluations = math.ceil(recipe.schedule.length / recipe.eval.interval)
        iterations = plan.steps
        lines = math.ceil(iterations / recipe.runtime.log_interval) + evaluations
        plan.log_bytes = len(to_run) * LOG_COPIES * LOG_LINE_BYTES * lines
    if spec is None:
        plan.no_compute = f"task type of {run.setting} declares no cost model (Recipe.sample_cost)"
    elif run.synthetic:
        plan.no_compute = "data=toy is generated, CPU-sized data; the table is for the real datasets on GPUs"
    elif run.resources.gpus <= 0:
        plan.no_compute = "resources.gpus=0 (CPU jobs); the table is for GPUs"
    elif plan.steps is None:
        plan.no_compute = f"the number of training samples of {run.setting} is not known"
    else:
        plan.calibration = calibrate(run.throughput, get_setting(run.setting).task)
        plan.gflops = flops / 1e9
        batch = recipe.runtime.batch_size
        per_step = (run.resources.gpus * plan.calibration.step_overhead_s
                    + batch * plan.gflops / (plan.calibration.tflops * 1e3))
        plan.gpu_seconds = plan.steps * per_step
    return plan

