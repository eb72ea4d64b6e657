"""What a training recipe is: the sections every task shares, as frozen, validated dataclasses.

A task's recipe type subclasses :class:`Recipe` and adds its own sections
(``tasks/<task>/recipe.py``); :func:`bench.config.parse` builds it from the
composed ``task`` node of the Hydra config (``conf/task/<setting>.yaml``), so
unknown keys, missing keys and bad values fail at once with the key's path.
Fields marked ``run_only`` change how a job runs, not what it computes: they
are left out of :func:`bench.config.config_hash`, and a resumed job may change them.

Example:
    >>> from bench.config import parse
    >>> parse(OptimConfig, {"name": "sgd", "lr": 0.1}, "task.optim").momentum
    0.9
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bench.cost import CostSpec
from bench.errors import BenchError

RUN_ONLY = {"run_only": True}


def _positive(where: str, value: float) -> None:
    if not value > 0:
        raise BenchError(f"recipe key {where}={value!r} must be > 0")


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser: ``sgd`` (momentum, nesterov), ``adam`` or ``adamw``; weight decay on every parameter.

    ``grad_clip``: clip the global gradient L2 norm to this value before each step (null: no clipping;
    PointPillars uses 10, as OpenPCDet's recipe).
    """

    name: Literal["sgd", "adam", "adamw"]
    lr: float
    momentum: float = 0.9
    weight_decay: float = 0.0
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        _positive("optim.lr", self.lr)
        if not self.weight_decay >= 0:
            raise BenchError(f"recipe key optim.weight_decay={self.weight_decay!r} must be >= 0")
        if self.grad_clip is not None:
            _positive("optim.grad_clip", self.grad_clip)


@dataclass(frozen=True)
class ScheduleConfig:
    """Training length and learning-rate policy (the rate is set every iteration).

    ``unit`` is ``epoch`` (classification, video, 3D detection) or ``iter`` (segmentation);
    ``length`` counts units. Policies: ``cosine`` decays to ``min_lr``; ``poly`` is
    ``(lr - min_lr) * (1 - t)**power + min_lr`` (mmsegmentation's form); ``constant`` keeps
    ``lr``; ``onecycle`` is OpenPCDet's / ``torch.optim.lr_scheduler.OneCycleLR``'s cosine
    one-cycle: from ``lr / div_factor`` up to ``lr`` over ``pct_start`` of training, then down
    to ``lr / div_factor / final_div_factor``, with the momentum (SGD) or beta1 (Adam) moving
    the opposite way between ``moms``. ``warmup_iters`` ramps linearly from 0 (not with onecycle).
    """

    unit: Literal["epoch", "iter"]
    length: int
    policy: Literal["cosine", "poly", "constant", "onecycle"] = "cosine"
    min_lr: float = 0.0
    power: float = 0.9
    warmup_iters: int = 0
    div_factor: float = 10.0
    final_div_factor: float = 1e4
    pct_start: float = 0.4
    moms: tuple[float, float] = (0.95, 0.85)

    def __post_init__(self) -> None:
        if self.length < 1:
            raise BenchError(f"recipe key schedule.length={self.length} must be >= 1")
        if self.warmup_iters < 0:
            raise BenchError(f"recipe key schedule.warmup_iters={self.warmup_iters} must be >= 0")
        if not 0 < self.pct_start < 1:
            raise BenchError(f"recipe key schedule.pct_start={self.pct_start} must be in (0, 1)")
        _positive("schedule.div_factor", self.div_factor)
        _positive("schedule.final_div_factor", self.final_div_factor)


@dataclass(frozen=True)
class EvalConfig:
    """Evaluate every ``interval`` units and always at the end."""

    interval: int
    batch_size: int = 0  # per device; 0 means the training batch per device

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise BenchError(f"recipe key eval.interval={self.interval} must be >= 1")
        if self.batch_size < 0:
            raise BenchError(f"recipe key eval.batch_size={self.batch_size} must be >= 0")


@dataclass(frozen=True)
class CheckpointConfig:
    """Which checkpoints a job writes and keeps.

    ``keep``: steps (in schedule units) whose checkpoints are kept for good (the paper's
    25/50/75/100 epochs); ``keep_last``: how many of the newest checkpoints are kept besides
    (PointPillars keeps the last five epochs); ``save_interval``: how often a resume
    checkpoint is written, which bounds the work lost to a preemption.
    """

    keep: tuple[int, ...] = ()
    keep_last: int = 1
    save_interval: int = 1

    def __post_init__(self) -> None:
        if self.save_interval < 1:
            raise BenchError(f"recipe key checkpoint.save_interval={self.save_interval} must be >= 1")
        if self.keep_last < 1:
            raise BenchError(f"recipe key checkpoint.keep_last={self.keep_last} must be >= 1")


PRECISIONS = ("auto", "bf16", "fp16", "fp32")


@dataclass(frozen=True)
class RuntimeConfig:
    """How the job runs.

    ``batch_size`` is the TOTAL batch over the job's devices (the paper's numbers); ``gpus``
    how many GPUs the recipe asks for (the launcher's default device count). ``precision``:
    ``auto`` (bf16 autocast on GPUs that support it natively, compute capability 8.0+;
    fp16 autocast with gradient scaling on older GPUs such as the V100; fp32 on the CPU),
    or ``bf16`` / ``fp16`` / ``fp32`` forced; decided per job on the worker that runs it and
    recorded with the run. ``channels_last`` applies on CUDA only; ``sync_bn`` synchronises
    BatchNorm statistics across the job's ranks.
    """

    batch_size: int
    gpus: int = field(default=1, metadata=RUN_ONLY)
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    channels_last: bool = True
    sync_bn: bool = False
    workers: int = field(default=4, metadata=RUN_ONLY)
    log_interval: int = field(default=50, metadata=RUN_ONLY)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise BenchError(f"recipe key runtime.batch_size={self.batch_size} must be >= 1")
        if self.gpus < 0:
            raise BenchError(f"recipe key runtime.gpus={self.gpus} must be >= 0")
        if self.workers < 0:
            raise BenchError(f"recipe key runtime.workers={self.workers} must be >= 0")
        if self.log_interval < 1:
            raise BenchError(f"recipe key runtime.log_interval={self.log_interval} must be >= 1")


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """The part of every recipe the engine and the scheduler read; tasks subclass it.

    ``setting`` names the :mod:`bench.settings` entry the recipe trains, ``dataset`` the key of
    ``data.roots`` that holds the data. Subclasses are ``kw_only`` dataclasses too.
    """

    setting: str
    dataset: str
    optim: OptimConfig
    schedule: ScheduleConfig
    eval: EvalConfig
    runtime: RuntimeConfig
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)

    def sample_cost(self) -> CostSpec | None:
        """How to count one training sample's forward pass at this recipe's training input (the cost
        plan's FLOPs and parameters); None when the task type does not say."""
        return None
