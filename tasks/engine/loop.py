"""The training loop every task plugs into: schedule, precision, DDP, evaluation, checkpoints, resume.

A task supplies a :class:`TrainTask` (model, training set, how a batch
reaches the device, loss, evaluation); :func:`run_training` does the rest,
identically for every task:

- the learning rate is set every iteration from the recipe's schedule;
- bf16 autocast and channels_last on CUDA when the recipe asks (default);
- DDP over the job's ranks (BatchNorm synchronised across them when ``runtime.sync_bn``:
  torch's SyncBatchNorm on CUDA, :mod:`tasks.engine.sync_bn` on the CPU);
- evaluation every ``eval.interval`` units and at the end, each one a curve point;
- a checkpoint at every evaluation, every ``checkpoint.save_interval`` units and
  at every ``checkpoint.keep`` step; the newest is the resume point. A restarted
  job loads it and continues at the next iteration: completed units are never
  repeated and the curve (stored in the checkpoint) has no gap or duplicate;
- a finished job re-run returns its recorded result without training again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from bench.errors import BenchError
from tasks.api import CurvePoint, JobResult, JobSpec
from tasks.engine.checkpoint import (
    FORMAT_VERSION,
    artifact_of,
    checkpoint_name,
    list_checkpoints,
    newest_checkpoint,
    prune,
    save_atomic,
)
from tasks.engine.distributed import DistEnv, barrier
from tasks.engine.optim import build_optimizer, lr_at, set_lr
from tasks.engine.recipe import CommonRecipe
from tasks.engine.sampler import ResumableBatchSampler
from tasks.engine.seeding import seed_everything
from tasks.engine.sync_bn import convert_cross_rank_bn

log = logging.getLogger("tasks.train")

# Recipe keys that change how a job runs but not what it computes: a restart may change them.
RUN_ONLY_KEYS = {("runtime", "workers"), ("runtime", "log_interval"), ("runtime", "gpus"), ("data", "verify")}


class TrainTask(ABC):
    """What a task supplies to :func:`run_training`.

    ``train_set[(index, aug_seed)]`` returns one sample; the augmentation must
    draw its randomness from ``aug_seed`` only (see :mod:`tasks.engine.sampler`).
    """

    train_set: Dataset
    metric_names: tuple[str, ...]

    @abstractmethod
    def build_model(self) -> nn.Module:
        """The network, freshly initialised (the loop seeds the RNG first)."""

    def init_weights(self, model: nn.Module) -> dict[str, Any]:
        """Load initial weights (e.g. video_p's cls_a backbone) before training starts; returns info."""
        return {}

    def collate(self, samples: list[Any]) -> Any:
        return torch.utils.data.default_collate(samples)

    @abstractmethod
    def prepare_batch(self, batch: Any, device: torch.device, train: bool) -> tuple[Any, Any]:
        """Move a collated batch to ``device`` and finish it there (decode, augment, normalise)."""

    @abstractmethod
    def loss(self, outputs: torch.Tensor, targets: Any) -> torch.Tensor:
        """The training loss of one batch."""

    @abstractmethod
    def evaluate(self, model: nn.Module, env: DistEnv, autocast: Callable[[], Any]) -> dict[str, float]:
        """Metrics over the whole evaluation set (each rank a shard, summed over ranks)."""

    def info(self) -> dict[str, Any]:
        """Facts about the data to record with the result (counts, synthetic flag, manifest hash)."""
        return {}


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 of the recipe without the run-only keys: equal hashes mean the same experiment."""
    plain = json.loads(json.dumps(config, sort_keys=True, default=str))
    for section, key in RUN_ONLY_KEYS:
        if isinstance(plain.get(section), dict):
            plain[section].pop(key, None)
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()[:16]


def autocast_for(device: torch.device, precision: str) -> Callable[[], Any]:
    """A factory of the autocast context the recipe asks for (bf16 on CUDA, nothing on CPU)."""
    if device.type == "cuda" and precision == "bf16":
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def to_channels_last(model: nn.Module) -> None:
    """channels_last for every 4-D parameter and buffer (5-D video convolutions stay as they are)."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.dim() == 4:
            tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)


def _inputs_channels_last(inputs: Any) -> Any:
    if isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
        return inputs.contiguous(memory_format=torch.channels_last)
    return inputs


def _setup_log_file(work_dir: Path, env: DistEnv) -> logging.Handler | None:
    if not env.is_main:
        return None
    handler = logging.FileHandler(work_dir / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def run_training(env: DistEnv, spec: JobSpec, task: TrainTask, recipe: CommonRecipe) -> JobResult:
    """Train ``task`` under ``recipe`` on this rank; every rank calls it, rank 0's result counts."""
    started = time.perf_counter()
    work_dir = Path(spec.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    handler = _setup_log_file(work_dir, env)
    try:
        return _train(env, spec, task, recipe, work_dir, started)
    finally:
        if handler is not None:
            log.removeHandler(handler)
            handler.close()


def _train(env: DistEnv, spec: JobSpec, task: TrainTask, recipe: CommonRecipe, work_dir: Path, started: float) -> JobResult:
    rt, sched = recipe.runtime, recipe.schedule
    if rt.batch_size % env.world_size:
        raise BenchError(
            f"runtime.batch_size={rt.batch_size} cannot be split over {env.world_size} devices "
            f"{list(spec.devices)}; use a multiple of {env.world_size} or another device count"
        )
    steps_per_epoch = len(task.train_set) // rt.batch_size
    if steps_per_epoch < 1:
        raise BenchError(
            f"runtime.batch_size={rt.batch_size} is larger than the training set ({len(task.train_set)} samples); "
            "not one full step fits: use a smaller batch"
        )
    total_iters = sched.length * steps_per_epoch if sched.unit == "epoch" else sched.length
    on_cuda = env.device.type == "cuda"
    if on_cuda:
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick the fastest kernels once

    seed_everything(spec.seed)
    model = task.build_model()
    init_info = task.init_weights(model)
    if rt.sync_bn and env.distributed:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model) if on_cuda else convert_cross_rank_bn(model)
    model.to(env.device)
    if on_cuda and rt.channels_last:
        to_channels_last(model)
    optimizer = build_optimizer(model.parameters(), recipe.optim)

    identity = {"code": spec.code, "setting": spec.setting, "seed": spec.seed, "config_hash": config_hash(spec.config)}
    state = newest_checkpoint(work_dir, identity)
    curve: list[dict[str, Any]] = []
    iteration = 0
    resumed_from = None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        curve = list(state["curve"])
        iteration = int(state["iteration"])
        resumed_from = int(state["step"])
        if env.is_main:
            log.info("resuming %s from %s %d (iteration %d)", spec.setting, sched.unit, resumed_from, iteration)
    trained = model
    if env.distributed:
        trained = DistributedDataParallel(model, device_ids=[env.device.index] if on_cuda else None)

    sampler = ResumableBatchSampler(len(task.train_set), rt.batch_size, env.rank, env.world_size, spec.seed)
    loader = DataLoader(
        task.train_set,
        batch_sampler=sampler,
        num_workers=rt.workers,
        collate_fn=task.collate,
        pin_memory=on_cuda,
        persistent_workers=rt.workers > 0,
    )
    autocast = autocast_for(env.device, rt.precision)
    last_metrics = _metrics_of_last_point(curve)
    model.train()
    while iteration < total_iters:
        epoch, first_batch = divmod(iteration, steps_per_epoch)
        sampler.set_epoch(epoch, first_batch)
        for batch in loader:
            set_lr(optimizer, lr_at(iteration, total_iters, recipe.optim.lr, sched))
            inputs, targets = task.prepare_batch(batch, env.device, train=True)
            if on_cuda and rt.channels_last:
                inputs = _inputs_channels_last(inputs)
            with autocast():
                loss = task.loss(trained(inputs), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            iteration += 1
            if iteration % rt.log_interval == 0 or iteration == total_iters:
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise RuntimeError(f"training diverged: loss is {value} at iteration {iteration}")
                if env.is_main:
                    log.info("iter %d/%d loss %.4f lr %.5f", iteration, total_iters, value, optimizer.param_groups[0]["lr"])
            done = iteration // steps_per_epoch if sched.unit == "epoch" else iteration
            at_boundary = sched.unit == "iter" or iteration % steps_per_epoch == 0
            if at_boundary:
                last_metrics = _at_boundary(env, spec, task, recipe, model, optimizer, done, iteration, curve, autocast, identity, work_dir, last_metrics)
                model.train()
            if iteration >= total_iters:
                break
    barrier(env)
    return _result(spec, task, recipe, work_dir, curve, last_metrics, started, resumed_from, init_info, env, steps_per_epoch, total_iters)


def _at_boundary(
    env: DistEnv,
    spec: JobSpec,
    task: TrainTask,
    recipe: CommonRecipe,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    done: int,
    iteration: int,
    curve: list[dict[str, Any]],
    autocast: Callable[[], Any],
    identity: dict[str, Any],
    work_dir: Path,
    last_metrics: dict[str, float],
) -> dict[str, float]:
    sched, ck = recipe.schedule, recipe.checkpoint
    final = done == sched.length
    evaluate = final or done % recipe.eval.interval == 0
    if evaluate:
        model.eval()
        with torch.no_grad():
            last_metrics = task.evaluate(model, env, autocast)
        curve.extend({"step": done, "metric": k, "value": float(v)} for k, v in last_metrics.items())
        if env.is_main:
            log.info("%s %d: %s", sched.unit, done, ", ".join(f"{k}={v:.4f}" for k, v in last_metrics.items()))
    if evaluate or final or done % ck.save_interval == 0 or done in ck.keep:
        if env.is_main:
            state = {
                "format": FORMAT_VERSION,
                "identity": identity,
                "step": done,
                "unit": sched.unit,
                "iteration": iteration,
                "final": final,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "curve": curve,
            }
            save_atomic(state, work_dir / checkpoint_name(sched.unit, done))
            prune(work_dir, set(ck.keep) | {sched.length})
        barrier(env)  # no rank runs ahead of a checkpoint it might need to resume from
    return last_metrics


def _metrics_of_last_point(curve: list[dict[str, Any]]) -> dict[str, float]:
    if not curve:
        return {}
    last = curve[-1]["step"]
    return {p["metric"]: float(p["value"]) for p in curve if p["step"] == last}


def _result(
    spec: JobSpec,
    task: TrainTask,
    recipe: CommonRecipe,
    work_dir: Path,
    curve: list[dict[str, Any]],
    metrics: dict[str, float],
    started: float,
    resumed_from: int | None,
    init_info: dict[str, Any],
    env: DistEnv,
    steps_per_epoch: int,
    total_iters: int,
) -> JobResult:
    unit = recipe.schedule.unit
    artifacts = [artifact_of(path, "checkpoint", step) for step, path in list_checkpoints(work_dir)]
    log_file = work_dir / "train.log"
    if log_file.exists():
        artifacts.append(artifact_of(log_file, "log"))
    info = {
        **task.info(),
        **init_info,
        "config_hash": config_hash(spec.config),
        "world_size": env.world_size,
        "device": str(env.device) if env.device.type == "cpu" else torch.cuda.get_device_name(env.device),
        "precision": recipe.runtime.precision if env.device.type == "cuda" else "fp32",
        "steps_per_epoch": steps_per_epoch,
        "total_iterations": total_iters,
        "resumed_from_step": resumed_from,
    }
    return JobResult(
        metrics=dict(metrics),
        curve=tuple(CurvePoint(step=p["step"], step_unit=unit, metric=p["metric"], value=p["value"]) for p in curve),
        artifacts=tuple(artifacts),
        wall_seconds=time.perf_counter() - started,
        info=info,
    )
