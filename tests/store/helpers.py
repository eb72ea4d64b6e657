"""Shared builders for the store tests: real codes, made-up but plausible results."""

from __future__ import annotations

from pathlib import Path

from bench.space import sample_codes
from bench.store import RunRecord
from tasks.api import Artifact, CurvePoint, JobResult, JobSpec

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "nasbench_mr"
CODES = [c.to_string() for c in sample_codes(n=40, seed=7)]


def job_spec(code: str, setting: str = "cls_a", seed: int = 0) -> JobSpec:
    return JobSpec(code=code, setting=setting, seed=seed, config={"lr": 0.1, "epochs": 100},
                   data_root="data", work_dir="work")


def succeeded(code: str, setting: str = "cls_a", seed: int = 0, attempt: int = 1, top1: float = 50.0) -> RunRecord:
    result = JobResult(
        metrics={"top1": top1, "top5": top1 + 20.0},
        curve=tuple(CurvePoint(e, "epoch", "top1", top1 * e / 100) for e in (25, 50, 75, 100)),
        artifacts=(Artifact("checkpoint", f"work/{seed}/ep100.pt", 123, "ab" * 32, 100),
                   Artifact("checkpoint", f"work/{seed}/ep50.pt", 123, "cd" * 32, 50)),
        wall_seconds=12.5,
        info={"dataset_hash": "d" * 16},
    )
    return RunRecord.from_job(job_spec(code, setting, seed), result, attempt=attempt, started_at=1.7e9,
                              ended_at=1.7e9 + 12.5, host="test-host", git_sha="0" * 40, packages={"torch": "x"})


def failed(code: str, setting: str = "cls_a", seed: int = 0, attempt: int = 1, error: str = "CUDA OOM") -> RunRecord:
    return RunRecord.from_job(job_spec(code, setting, seed), None, attempt=attempt, error=error, host="test-host",
                              git_sha="0" * 40, packages={"torch": "x"})
