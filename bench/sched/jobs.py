"""The units a sweep schedules: one job per (architecture, setting, seed), and what they share.

A :class:`SweepJob` is a few strings (it is queued by the thousand);
everything the jobs of a sweep have in common (the task type, typed recipe,
data source, store URI) is one :class:`JobTemplate`, ``ray.put`` once and
passed to every attempt by reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.code import ArchCode
from bench.cost import CostSpec, cost
from bench.errors import BenchError, check_number
from bench.experiment import Experiment
from bench.job import JobSpec, work_dir_for
from bench.settings import get_setting

Key = tuple[str, str, int]
"""How the store names a job: (arch_id, setting, seed)."""


@dataclass(frozen=True)
class SweepJob:
    """One (architecture, setting, seed) to train."""

    code: str  # official code string (parsed into an ArchCode once, when its spec is built)
    arch_id: str
    setting: str
    seed: int

    @classmethod
    def of(cls, code: ArchCode, setting: str, seed: int) -> SweepJob:
        return cls(code.to_string(), code.arch_id, get_setting(setting).name, int(seed))

    @property
    def key(self) -> Key:
        return (self.arch_id, self.setting, self.seed)

    def label(self) -> str:
        return f"{self.setting}/{self.arch_id}/seed{self.seed}"


@dataclass(frozen=True)
class JobTemplate:
    """What every job of one sweep shares: the experiment (task type, typed recipe, data, variant),
    the store and the work root (a job's work dir is :func:`bench.job.work_dir_for`)."""

    experiment: Experiment
    store_uri: str
    work_root: str

    @property
    def setting(self) -> str:
        return self.experiment.setting

    def spec(self, job: SweepJob, devices: tuple[str, ...], init_checkpoint: str | None) -> JobSpec:
        code = ArchCode.from_string(job.code)
        exp = self.experiment
        return JobSpec(
            code=code,
            setting=job.setting,
            seed=job.seed,
            recipe=exp.recipe,
            data=exp.data,
            work_dir=work_dir_for(self.work_root, job.setting, code, job.seed, exp.identity),
            devices=devices or ("cpu",),
            init_checkpoint=init_checkpoint,
            variant=exp.variant,
        )


@dataclass(frozen=True)
class Resources:
    """What one job asks Ray for.

    ``small_gpu_fraction`` packs small architectures several to a GPU (PERF.md
    measured 3.3x aggregate throughput for four p10 codes on one H200): a code
    whose classification GFLOPs (at the benchmark's 128x128 convention) are at
    most ``small_max_gflops`` asks for ``small_gpu_fraction`` of one GPU
    instead of ``gpus``. Only single-GPU jobs are packed. Off (None) by default.
    """

    gpus: float = 0.0
    cpus: float = 1.0
    custom: Mapping[str, float] = field(default_factory=dict)
    small_gpu_fraction: float | None = None
    small_max_gflops: float = 1.0

    def __post_init__(self) -> None:
        if self.gpus < 0 or self.cpus < 0:
            raise BenchError(f"resources gpus={self.gpus}, cpus={self.cpus} are invalid; valid are numbers >= 0")
        if self.gpus > 1 and self.gpus != int(self.gpus):
            raise BenchError(f"resources.gpus={self.gpus} is invalid; more than one GPU must be a whole number")
        if self.small_gpu_fraction is not None and not 0 < self.small_gpu_fraction < 1:
            raise BenchError(
                f"resources.small_gpu_fraction={self.small_gpu_fraction} is invalid; valid is null or in (0, 1)"
            )
        check_number("resources.small_max_gflops", self.small_max_gflops, 0.0)

    def gpus_for(self, job: SweepJob) -> float:
        """GPUs to request for ``job`` (a fraction for small codes when packing is on)."""
        if self.small_gpu_fraction is None or self.gpus != 1:
            return self.gpus
        gflops = cost(ArchCode.from_string(job.code), CostSpec()).gflops
        return self.small_gpu_fraction if gflops <= self.small_max_gflops else self.gpus

    def ray_options(self, job: SweepJob) -> dict[str, Any]:
        """Keyword arguments for ``remote_fn.options``."""
        return {"num_gpus": self.gpus_for(job), "num_cpus": self.cpus, "resources": dict(self.custom)}

    def per_job(self) -> dict[str, float]:
        """The largest request of one job, by Ray resource name (to size the number in flight)."""
        need = {"CPU": self.cpus, "GPU": self.gpus, **self.custom}
        return {name: amount for name, amount in need.items() if amount > 0}
