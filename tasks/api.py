"""The one interface every training job implements, and what it hands back.

A job is a pure function of its :class:`JobSpec`: it trains one architecture
on one setting with one seed, evaluates on schedule, checkpoints into
``spec.work_dir`` (and resumes from the newest checkpoint there when
restarted), and returns a :class:`JobResult`. It does not write the store:
the caller (``launch/train.py`` or the Ray scheduler) commits the result
with its provenance, so a job cannot leave a half-written row behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from bench.registry import Registry


@dataclass(frozen=True)
class JobSpec:
    """Everything a job needs; ``config`` is the resolved recipe (plain dict, no OmegaConf)."""

    code: str  # official code string
    setting: str  # cls_a, cls_b, cls_c, cls_10c, seg, seg_4x, det3d, video, video_p
    seed: int
    config: Mapping[str, Any]
    data_root: str
    work_dir: str  # checkpoints and logs of this (arch, setting, seed); survives restarts
    devices: tuple[str, ...] = ("cpu",)  # e.g. ("cuda:0", "cuda:1"): DDP over them
    init_checkpoint: str | None = None  # video_p: the same code's cls_a checkpoint


@dataclass(frozen=True)
class CurvePoint:
    """One evaluation during training."""

    step: int  # epoch for epoch-based recipes, iteration for iteration-based ones
    step_unit: str  # "epoch" or "iter"
    metric: str
    value: float


@dataclass(frozen=True)
class Artifact:
    """A file the job produced (checkpoint, log), addressed by URI, with its size and sha256."""

    kind: str  # "checkpoint" or "log"
    uri: str
    size: int
    sha256: str
    step: int | None = None


@dataclass(frozen=True)
class JobResult:
    """Final metrics under the paper's names, the curve, the artifacts and the job's own numbers."""

    metrics: Mapping[str, float]
    curve: tuple[CurvePoint, ...] = ()
    artifacts: tuple[Artifact, ...] = ()
    wall_seconds: float = 0.0
    info: Mapping[str, Any] = field(default_factory=dict)  # e.g. dropped-clip counts, synthetic-data flag


JobFn = Callable[[JobSpec], JobResult]

JOBS: Registry = Registry("training job")
"""Training jobs by setting name; each entry is a ``JobFn``."""
