"""The recipe sections every task shares, as validated frozen dataclasses.

A job's ``spec.config`` is a plain nested dict (the resolved Hydra ``task``
node). Turning it into typed objects happens here and in each task's own
``parse_*`` function, never ad hoc: unknown keys, missing keys and bad values
fail at once with the key's dotted path and what is valid.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from bench.errors import BenchError

T = TypeVar("T")


def parse_section(cls: type[T], values: Mapping[str, Any] | None, where: str) -> T:
    """Build dataclass ``cls`` from ``values``; every key must be a field and required fields present.

    Lists become tuples (the dataclasses are frozen and hashable); ints are
    accepted where floats are expected.

    Example:
        >>> parse_section(OptimConfig, {"name": "sgd", "lr": 0.1}, "optim").momentum
        0.9
    """
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise BenchError(f"recipe section {where!r} must be a mapping, got {type(values).__name__}: {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise BenchError(f"unknown key(s) {unknown} in recipe section {where!r}; valid keys are {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, f in fields.items():
        if name not in values:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise BenchError(f"recipe key {where}.{name} is missing (required)")
            continue
        kwargs[name] = _coerce(values[name], hints[name], f"{where}.{name}")
    try:
        return cls(**kwargs)
    except BenchError:
        raise
    except (TypeError, ValueError) as exc:
        raise BenchError(f"recipe section {where!r} is invalid: {exc}") from None


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        return _coerce(value, non_none[0], where)
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise BenchError(f"recipe key {where}={value!r} must be a list")
        items = list(value)
        item_type = args[0] if args else Any
        if len(args) == 2 and args[1] is Ellipsis or len(args) == 1:
            return tuple(_coerce(v, item_type, f"{where}[{i}]") for i, v in enumerate(items))
        if len(items) != len(args):
            raise BenchError(f"recipe key {where}={items!r} must have {len(args)} values")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(items, args)))
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BenchError(f"recipe key {where}={value!r} must be a number")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BenchError(f"recipe key {where}={value!r} must be an integer")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise BenchError(f"recipe key {where}={value!r} must be true or false")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise BenchError(f"recipe key {where}={value!r} must be a string")
        return value
    return value


def _choice(where: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise BenchError(f"recipe key {where}={value!r} is invalid; valid values are {list(valid)}")


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser: ``sgd`` (momentum, nesterov), ``adam`` or ``adamw``; weight decay on every parameter."""

    name: str
    lr: float
    momentum: float = 0.9
    weight_decay: float = 0.0
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)

    def __post_init__(self) -> None:
        _choice("optim.name", self.name, ("sgd", "adam", "adamw"))
        if self.lr <= 0:
            raise BenchError(f"recipe key optim.lr={self.lr} must be > 0")
        if self.weight_decay < 0:
            raise BenchError(f"recipe key optim.weight_decay={self.weight_decay} must be >= 0")


@dataclass(frozen=True)
class ScheduleConfig:
    """Training length and learning-rate policy.

    ``unit`` is ``epoch`` (classification, video) or ``iter`` (segmentation);
    ``length`` counts units. The learning rate is set every iteration:
    ``cosine`` decays to ``min_lr``; ``poly`` is ``(lr - min_lr) * (1 - t)**power + min_lr``
    (mmsegmentation's form); ``constant`` keeps ``lr``. ``warmup_iters`` ramps linearly from 0.
    """

    unit: str
    length: int
    policy: str = "cosine"
    min_lr: float = 0.0
    power: float = 0.9
    warmup_iters: int = 0

    def __post_init__(self) -> None:
        _choice("schedule.unit", self.unit, ("epoch", "iter"))
        _choice("schedule.policy", self.policy, ("cosine", "poly", "constant"))
        if self.length < 1:
            raise BenchError(f"recipe key schedule.length={self.length} must be >= 1")


@dataclass(frozen=True)
class EvalConfig:
    """Evaluate every ``interval`` units and always at the end."""

    interval: int
    batch_size: int = 0  # per device; 0 means the training batch per device

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise BenchError(f"recipe key eval.interval={self.interval} must be >= 1")


@dataclass(frozen=True)
class CheckpointConfig:
    """``keep``: steps (in schedule units) whose checkpoints are kept for good (the paper's
    25/50/75/100 epochs); ``save_interval``: how often a resume checkpoint is written
    (only the newest one is kept), which bounds the work lost to a preemption."""

    keep: tuple[int, ...] = ()
    save_interval: int = 1

    def __post_init__(self) -> None:
        if self.save_interval < 1:
            raise BenchError(f"recipe key checkpoint.save_interval={self.save_interval} must be >= 1")


@dataclass(frozen=True)
class RuntimeConfig:
    """How the job runs, not what it computes.

    ``batch_size`` is the TOTAL batch over the job's devices (the paper's numbers);
    ``gpus`` is how many GPUs the recipe asks for (the launcher's default device count);
    ``precision`` ``bf16`` means bf16 autocast on CUDA (fp32 on CPU, where autocast
    gains nothing); ``channels_last`` applies on CUDA only; ``sync_bn`` synchronises
    BatchNorm statistics across the job's ranks when it has several.
    """

    batch_size: int
    gpus: int = 1
    precision: str = "bf16"
    channels_last: bool = True
    sync_bn: bool = False
    workers: int = 4
    log_interval: int = 50

    def __post_init__(self) -> None:
        _choice("runtime.precision", self.precision, ("bf16", "fp32"))
        if self.batch_size < 1:
            raise BenchError(f"recipe key runtime.batch_size={self.batch_size} must be >= 1")
        if self.gpus < 1:
            raise BenchError(f"recipe key runtime.gpus={self.gpus} must be >= 1")
        if self.workers < 0:
            raise BenchError(f"recipe key runtime.workers={self.workers} must be >= 0")


@dataclass(frozen=True)
class CommonRecipe:
    """The sections :func:`tasks.engine.loop.run_training` reads."""

    optim: OptimConfig
    schedule: ScheduleConfig
    eval: EvalConfig
    checkpoint: CheckpointConfig
    runtime: RuntimeConfig


COMMON_SECTIONS = ("optim", "schedule", "eval", "checkpoint", "runtime")


def parse_common(config: Mapping[str, Any]) -> CommonRecipe:
    """Parse the shared sections of a resolved recipe (other keys are the task's business)."""
    return CommonRecipe(
        optim=parse_section(OptimConfig, config.get("optim"), "optim"),
        schedule=parse_section(ScheduleConfig, config.get("schedule"), "schedule"),
        eval=parse_section(EvalConfig, config.get("eval"), "eval"),
        checkpoint=parse_section(CheckpointConfig, config.get("checkpoint"), "checkpoint"),
        runtime=parse_section(RuntimeConfig, config.get("runtime"), "runtime"),
    )
