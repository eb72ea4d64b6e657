"""The one training loop every task plugs into: schedule, precision, DDP, evaluation, checkpoints, resume.

A task supplies a :class:`TrainTask` (model, training set, how a batch
reaches the device, loss, evaluation); :func:`run_training` does the rest,
identically for every task (classification, segmentation, video, 3D detection):

- the learning rate (and, for one-cycle, the momentum) is set every iteration from the recipe;
- the precision is resolved on this rank's device (:mod:`tasks.engine.precision`);
  channels_last on CUDA when the recipe asks; gradient-norm clipping when it asks;
- DDP over the job's ranks (BatchNorm synchronised across them when ``runtime.sync_bn``:
  torch's SyncBatchNorm on CUDA, :mod:`tasks.engine.sync_bn` on the CPU);
- a setting with ``init_from`` starts its backbone from that setting's final checkpoint of
  the same code (``spec.init_checkpoint``);
- at every evaluation step the checkpoint is written FIRST, then the model is evaluated and
  the checkpoint rewritten with the new curve points: an evaluation that fails (a bad
  validation file, a preemption) loses no training, and the resumed job evaluates that
  step before it trains on;
- checkpoints every ``checkpoint.save_interval`` units; the ``checkpoint.keep`` steps and
  the ``checkpoint.keep_last`` newest are kept. A restarted job loads the newest and
  continues at the next iteration: completed units are never repeated and the curve
  (stored in the checkpoint) has no gap or duplicate;
- a finished job re-run returns its recorded result without training again.
"""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from bench.code import ArchCode
from bench.errors import BenchError
from bench.job import CurvePoint, JobResult, JobSpec
from bench.settings import get_setting
from tasks.engine.checkpoint import (
    FORMAT_VERSION,
    artifact_of,
    checkpoint_name,
    list_checkpoints,
    load_checkpoint,
    newest_checkpoint,
    prune,
    save_atomic,
)
from tasks.engine.distributed import DistEnv, barrier
from tasks.engine.optim import build_optimizer, lr_at, set_lr
from tasks.engine.precision import Precision
from tasks.engine.sampler import ResumableBatchSampler
from tasks.engine.seeding import seed_everything
from tasks.engine.sync_bn import convert_cross_rank_bn

log = logging.getLogger("tasks.train")



def console_metrics(metrics: dict[str, float], setting: str) -> str:
    """The evaluation line: the setting's published metrics (det3d's devkit gives ~130 keys; all
    of them go to the curve, the console shows the 18 the paper reports and counts the rest).

    Example:
        >>> console_metrics({"top1": 51.25, "top5": 80.0, "loss": 1.5}, "cls_a")
        'top1=51.2500, top5=80.0000 (+1 more in the curve)'
    """
    published = get_setting(setting).metrics
    shown = {k: v for k, v in metrics.items() if k in published} or metrics
    more = len(metrics) - len(shown)
    return ", ".join(f"{k}={v:.4f}" for k, v in shown.items()) + (f" (+{more} more in the curve)" if more else "")

class TrainTask(ABC):
    """What a task supplies to :func:`run_training`.

    ``train_set[(index, aug_seed)]`` returns one sample; the augmentation must
    draw its randomness from ``aug_seed`` only (see :mod:`tasks.engine.sampler`).
    """

    train_set: Dataset

    @abstractmethod
    def build_model(self) -> nn.Module:
        """The network, freshly initialised (the loop seeds the RNG first); it has a ``backbone``."""

    def collate(self, samples: list[Any]) -> Any:
        return torch.utils.data.default_collate(samples)

    @abstractmethod
    def prepare_batch(self, batch: Any, device: torch.device, train: bool) -> tuple[Any, Any]:
        """Move a collated batch to ``device`` and finish it there (decode, augment, normalise)."""

    @abstractmethod
    def loss(self, outputs: Any, targets: Any) -> torch.Tensor:
        """The training loss of one batch."""

    @abstractmethod
    def evaluate(self, model: nn.Module, env: DistEnv, autocast: Callable[[], Any]) -> dict[str, float]:
        """Metrics over the whole evaluation set (rank 0's values are the job's)."""

    def info(self) -> dict[str, Any]:
        """Facts about the data to record with the result (counts, dropped samples)."""
        return {}


@dataclass
class _State:
    """What a checkpoint carries besides the weights."""

    iteration: int = 0
    step: int = 0  # completed schedule units
    curve: list[dict[str, Any]] | None = None
    resumed_from: int | None = None
    precisions: list[list] | None = None  # [[from step, precision]]: a job resumed on another card may change it


def _identity(spec: JobSpec) -> dict[str, Any]:
    return {"code": spec.code.to_string(), "setting": spec.setting, "seed": spec.seed, "run": spec.identity.tag}


def run_training(env: DistEnv, spec: JobSpec, task: TrainTask) -> JobResult:
    """Train ``task`` under ``spec.recipe`` on this rank; every rank calls it, rank 0's result counts."""
    started = time.perf_counter()
    work_dir = Path(spec.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    handler = None
    if env.is_main:
        handler = logging.FileHandler(work_dir / "train.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    try:
        return _Trainer(env, spec, task, work_dir).run(started)
    finally:
        if handler is not None:
            log.removeHandler(handler)
            handler.close()


class _Trainer:
    """One rank's run of the loop (a class only to keep the shared objects in one place)."""

    def __init__(self, env: DistEnv, spec: JobSpec, task: TrainTask, work_dir: Path) -> None:
        recipe = spec.recipe
        self.env, self.spec, self.task, self.work_dir, self.recipe = env, spec, task, work_dir, recipe
        rt, sched = recipe.runtime, recipe.schedule
        if rt.batch_size % env.world_size:
            raise BenchError(
                f"runtime.batch_size={rt.batch_size} cannot be split over {env.world_size} devices "
                f"{list(spec.devices)}; use a multiple of {env.world_size} or another device count"
            )
        self.steps_per_epoch = len(task.train_set) // rt.batch_size
        if self.steps_per_epoch < 1:
            raise BenchError(
                f"runtime.batch_size={rt.batch_size} is larger than the training set ({len(task.train_set)} "
                "samples); not one full step fits: use a smaller batch"
            )
        self.total_iters = sched.length * self.steps_per_epoch if sched.unit == "epoch" else sched.length
        self.on_cuda = env.device.type == "cuda"
        self.precision = Precision.for_device(rt.precision, env.device)
        self.autocast = self.precision.autocast()
        self.identity = _identity(spec)

    # ------------------------------------------------------------------ set-up
    def _model_and_optimizer(self) -> tuple[nn.Module, torch.optim.Optimizer, dict[str, Any]]:
        rt = self.recipe.runtime
        if self.on_cuda:
            torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick the fastest kernels once
        seed_everything(self.spec.seed)
        model = self.task.build_model()
        init_info = init_backbone(model, self.spec)
        if rt.sync_bn and self.env.distributed:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model) if self.on_cuda else convert_cross_rank_bn(model)
        model.to(self.env.device)
        if self.on_cuda and rt.channels_last:
            to_channels_last(model)
        return model, build_optimizer(model.parameters(), self.recipe.optim), init_info

    def run(self, started: float) -> JobResult:
        env, rt, sched = self.env, self.recipe.runtime, self.recipe.schedule
        model, optimizer, init_info = self._model_and_optimizer()
        scaler = self.precision.scaler()
        state = _State(curve=[], precisions=[])
        saved = newest_checkpoint(self.work_dir, self.identity)
        if saved is not None:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            if saved.get("scaler"):
                scaler.load_state_dict(saved["scaler"])
            state = _State(int(saved["iteration"]), int(saved["step"]), list(saved["curve"]), int(saved["step"]),
                           list(saved.get("precisions", [])))
            if env.is_main:
                log.info("resuming %s from %s %d (iteration %d)", self.spec.setting, sched.unit, state.step, state.iteration)
            if self._evaluates(state.step) and not any(p["step"] == state.step for p in state.curve):
                self._evaluate(model, optimizer, scaler, state)  # the checkpoint was written, its evaluation not
        if not state.precisions or state.precisions[-1][1] != self.precision.name:
            state.precisions.append([state.step, self.precision.name])
        trained = model
        if env.distributed:
            trained = DistributedDataParallel(model, device_ids=[env.device.index] if self.on_cuda else None)
        sampler = ResumableBatchSampler(len(self.task.train_set), rt.batch_size, env.rank, env.world_size, self.spec.seed)
        loader = DataLoader(self.task.train_set, batch_sampler=sampler, num_workers=rt.workers, collate_fn=self.task.collate,
                            pin_memory=self.on_cuda, persistent_workers=rt.workers > 0)
        model.train()
        while state.iteration < self.total_iters:
            epoch, first_batch = divmod(state.iteration, self.steps_per_epoch)
            sampler.set_epoch(epoch, first_batch)
            for batch in loader:
                self._step(trained, model, optimizer, scaler, batch, state.iteration)
                state.iteration += 1
                at_boundary = sched.unit == "iter" or state.iteration % self.steps_per_epoch == 0
                if at_boundary:
                    state.step = state.iteration // self.steps_per_epoch if sched.unit == "epoch" else state.iteration
                    self._at_boundary(model, optimizer, scaler, state)
                    model.train()
                if state.iteration >= self.total_iters:
                    break
        barrier(env)
        return self._result(state, started, init_info)

    # ------------------------------------------------------------------ one step
    def _step(self, trained: nn.Module, model: nn.Module, optimizer: torch.optim.Optimizer,
              scaler: torch.amp.GradScaler, batch: Any, iteration: int) -> None:
        rt, optim = self.recipe.runtime, self.recipe.optim
        lr, momentum = lr_at(iteration, self.total_iters, optim.lr, self.recipe.schedule)
        set_lr(optimizer, lr, momentum)
        inputs, targets = self.task.prepare_batch(batch, self.env.device, train=True)
        if self.on_cuda and rt.channels_last and isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            loss = self.task.loss(trained(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if optim.grad_clip is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), optim.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        done = iteration + 1
        if done % rt.log_interval == 0 or done == self.total_iters:
            value = float(loss.detach())
            if not math.isfinite(value):
                raise RuntimeError(f"training diverged: loss is {value} at iteration {done}")
            if self.env.is_main:
                log.info("iter %d/%d loss %.4f lr %.6f", done, self.total_iters, value, lr)

    # ------------------------------------------------------------------ boundaries
    def _evaluates(self, step: int) -> bool:
        return step == self.recipe.schedule.length or step % self.recipe.eval.interval == 0

    def _at_boundary(self, model: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                     state: _State) -> None:
        ck = self.recipe.checkpoint
        if self._evaluates(state.step):
            self._save(model, optimizer, scaler, state)  # before evaluating: a failed evaluation loses no training
            self._evaluate(model, optimizer, scaler, state)
        elif state.step % ck.save_interval == 0 or state.step in ck.keep:
            self._save(model, optimizer, scaler, state)

    def _evaluate(self, model: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                  state: _State) -> None:
        model.eval()
        with torch.no_grad():
            metrics = self.task.evaluate(model, self.env, self.autocast)
        state.curve.extend({"step": state.step, "metric": k, "value": float(v)} for k, v in metrics.items())
        if self.env.is_main:
            log.info("%s %d: %s", self.recipe.schedule.unit, state.step, console_metrics(metrics, self.spec.setting))
        self._save(model, optimizer, scaler, state)

    def _save(self, model: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
              state: _State) -> None:
        sched, ck = self.recipe.schedule, self.recipe.checkpoint
        if self.env.is_main:
            saved = {
                "format": FORMAT_VERSION,
                "identity": self.identity,
                "step": state.step,
                "unit": sched.unit,
                "iteration": state.iteration,
                "final": state.step == sched.length,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict() if scaler.is_enabled() else {},
                "curve": list(state.curve),
                "precisions": list(state.precisions),
            }
            save_atomic(saved, self.work_dir / checkpoint_name(sched.unit, state.step))
            prune(self.work_dir, set(ck.keep) | {sched.length}, ck.keep_last)
        barrier(self.env)  # no rank runs ahead of a checkpoint it might need to resume from

    # ------------------------------------------------------------------ the result
    def _result(self, state: _State, started: float, init_info: dict[str, Any]) -> JobResult:
        unit = self.recipe.schedule.unit
        curve = state.curve
        last = curve[-1]["step"] if curve else None
        metrics = {p["metric"]: float(p["value"]) for p in curve if p["step"] == last}
        artifacts = [artifact_of(path, "checkpoint", step) for step, path in list_checkpoints(self.work_dir)]
        log_file = self.work_dir / "train.log"
        if log_file.exists():
            artifacts.append(artifact_of(log_file, "log"))
        device = self.env.device
        info = {
            **self.task.info(),
            **init_info,
            "world_size": self.env.world_size,
            "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
            "precision": self.precision.name,
            "precision_history": state.precisions,  # [[from step, precision]]: more than one if resumed elsewhere
            # torch runs CUDA fp32 convolutions in TF32 unless told otherwise: say which "fp32" this was.
            "cuda_tf32": bool(torch.backends.cudnn.allow_tf32) if device.type == "cuda" else None,
            "steps_per_epoch": self.steps_per_epoch,
            "total_iterations": self.total_iters,
            "resumed_from_step": state.resumed_from,
        }
        return JobResult(
            metrics=metrics,
            curve=tuple(CurvePoint(step=p["step"], step_unit=unit, metric=p["metric"], value=p["value"]) for p in curve),
            artifacts=tuple(artifacts),
            wall_seconds=time.perf_counter() - started,
            info=info,
        )


def to_channels_last(model: nn.Module) -> None:
    """channels_last for every 4-D parameter and buffer (5-D video convolutions stay as they are)."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.dim() == 4:
            tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)


def init_backbone(model: nn.Module, spec: JobSpec) -> dict[str, Any]:
    """Load the backbone of the setting's ``init_from`` checkpoint (video_p: the same code's cls_a)."""
    source = get_setting(spec.setting).init_from
    if source is None:
        return {}
    uri = spec.init_checkpoint
    if not uri:
        raise BenchError(
            f"{spec.setting} starts from the {source} checkpoint of the same code ({spec.code}, seed {spec.seed}), "
            f"but none was given; train task={source} first (it is found through the store) or pass init_checkpoint=URI"
        )
    state = load_checkpoint(uri)
    identity = state.get("identity", {})
    try:
        same_code = ArchCode.parse(identity.get("code", "")) == spec.code
    except BenchError:
        same_code = False
    if identity.get("setting") != source or not same_code:
        raise BenchError(
            f"init checkpoint {uri!r} is of setting {identity.get('setting')!r} and code {identity.get('code')!r}; "
            f"{spec.setting} needs {source!r} of code {spec.code}"
        )
    if not state.get("final", False):
        raise BenchError(f"init checkpoint {uri!r} was taken at step {state.get('step')}, before its job finished")
    backbone = {k[len("backbone."):]: v for k, v in state["model"].items() if k.startswith("backbone.")}
    model.backbone.load_state_dict(backbone, strict=True)
    return {"init_checkpoint": uri, "init_tensors": len(backbone), "init_step": int(state["step"])}
