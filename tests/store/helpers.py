"""Shared builders for the store tests: real codes, made-up but plausible results."""

from __future__ import annotations

from pathlib import Path

from bench.code import ArchCode
from bench.job import Artifact, CurvePoint, DataSource, JobResult, JobSpec
from bench.recipe import EvalConfig, OptimConfig, Recipe, RuntimeConfig, ScheduleConfig
from bench.space import sample_codes
from bench.store import RunRecord

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "nasbench_mr"
CODES = [c.to_string() for c in sample_codes(n=40, seed=7)]
REAL = DataSource("real", "data", "manifest:" + "d" * 64)
TOY = DataSource("toy", "toy", "synthetic:imagenet-toy-v2")


def recipe(setting: str = "cls_a", lr: float = 0.1, epochs: int = 100) -> Recipe:
    return Recipe(setting=setting, dataset="imagenet", optim=OptimConfig("sgd", lr), schedule=ScheduleConfig("epoch", epochs),
                  eval=EvalConfig(5), runtime=RuntimeConfig(160))


def job_spec(code: str, setting: str = "cls_a", seed: int = 0, data: DataSource = REAL, lr: float = 0.1,
             variant: str = "") -> JobSpec:
    return JobSpec(code=ArchCode.from_string(code), setting=setting, seed=seed, recipe=recipe(setting, lr),
                   data=data, work_dir="work", variant=variant)


def succeeded(code: str, setting: str = "cls_a", seed: int = 0, attempt: int = 1, top1: float = 50.0,
              data: DataSource = REAL, lr: float = 0.1, variant: str = "") -> RunRecord:
    result = JobResult(
        metrics={"top1": top1, "top5": top1 + 20.0},
        curve=tuple(CurvePoint(e, "epoch", "top1", top1 * e / 100) for e in (25, 50, 75, 100)),
        artifacts=(Artifact("checkpoint", f"work/{seed}/ep100.pt", 123, "ab" * 32, 100),
                   Artifact("checkpoint", f"work/{seed}/ep50.pt", 123, "cd" * 32, 50)),
        wall_seconds=12.5,
    )
    return RunRecord.from_job(job_spec(code, setting, seed, data, lr, variant), result, attempt=attempt,
                              started_at=1.7e9, ended_at=1.7e9 + 12.5, host="test-host", git_sha="0" * 40,
                              packages={"torch": "x"})


def failed(code: str, setting: str = "cls_a", seed: int = 0, attempt: int = 1, error: str = "CUDA OOM",
           data: DataSource = REAL) -> RunRecord:
    return RunRecord.from_job(job_spec(code, setting, seed, data), None, attempt=attempt, error=error, host="test-host",
                              git_sha="0" * 40, packages={"torch": "x"})
