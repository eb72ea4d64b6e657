"""A small real store for the query API tests: published rows imported, measured runs with curves committed.

Every number is generated here from a seeded generator and kept in
:class:`Built`, so tests compare what the API returns with what went in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.code import ArchCode
from bench.job import CurvePoint
from bench.space import sample_codes
from bench.store import RunRecord, Store
from bench.store.official import import_official
from tests.store.official_fixtures import mr_rows, write_published_dir

EPOCHS = (25, 50, 75)  # evaluated epochs of cls_a; its recipe runs LENGTH["cls_a"] (the final eval: the metrics)
ITERS = (5000, 10000, 15000, 20000, 25000)
LENGTH = {"cls_a": 100, "seg": 25000}


@dataclass(frozen=True)
class Run:
    """One committed run: its inputs, as the tests expect to read them back."""

    code: str
    setting: str
    seed: int
    metrics: dict[str, float]
    curve: dict[tuple[str, int], float]
    wall_seconds: float
    synthetic: bool
    schedule_length: int | None

    @property
    def arch_id(self) -> str:
        return ArchCode.from_string(self.code).arch_id

    def record(self, attempt: int = 1) -> RunRecord:
        unit = "iter" if self.setting == "seg" else "epoch"
        schedule = {"schedule": {"unit": unit, "length": self.schedule_length}}
        config = {"lr": 0.1} if self.schedule_length is None else schedule
        return RunRecord(code=self.code, setting=self.setting, seed=self.seed, attempt=attempt, status="succeeded",
                         metrics=self.metrics, wall_seconds=self.wall_seconds, config_json=json.dumps(config),
                         curve=tuple(CurvePoint(step, unit, m, value) for (m, step), value in self.curve.items()),
                         dataset_id="synthetic:test-toy" if self.synthetic else "manifest:" + "0" * 64,
                         host="test", git_sha="0" * 40)


@dataclass
class Built:
    """The store and everything put into it."""

    uri: str
    runs: list[Run]
    published: dict[str, list[dict]] = field(default_factory=dict)  # setting -> the published rows
    cls_a_only: str = ""  # measured in cls_a, in no other setting

    def runs_of(self, code: str, setting: str) -> list[Run]:
        return [r for r in self.runs if r.code == code and r.setting == setting]

    def published_row(self, code: str, setting: str) -> dict:
        return next(r for r in self.published[setting] if ArchCode.from_row(r).to_string() == code)


def _run(rng: np.random.Generator, code: str, setting: str, seed: int, synthetic: bool = False,
         schedule: bool = True) -> Run:
    metrics = ("mIoU", "mAcc") if setting == "seg" else ("top1", "top5")
    steps = ITERS if setting == "seg" else EPOCHS
    final = {m: float(np.round(rng.uniform(20, 80), 2)) for m in metrics}
    curve = {(m, s): float(np.round(final[m] * (0.4 + 0.6 * s / LENGTH[setting]) - rng.uniform(0, 2), 2))
             for m in metrics for s in steps}
    return Run(code, setting, seed, final, curve, float(np.round(rng.uniform(600, 3600), 1)), synthetic,
               LENGTH[setting] if schedule else None)


def build_store(root: Path) -> Built:
    """Published cls_a / seg / nb201 rows imported, and measured runs (real and synthetic) on top.

    cls_a: published codes 0-2 also measured (two seeds; measured wins), fresh
    code 0 measured only (seeds 0, 1, 2), published code 4 with a synthetic run,
    fresh code 1 synthetic only, fresh code 2 measured in cls_a and nowhere
    else. seg (published with the same codes as cls_a): published code 0
    measured (recipe without a schedule, so time is scaled by the last
    evaluated step), fresh code 0 measured.
    """
    rng = np.random.default_rng(2022)
    published = {s: mr_rows(s) for s in ("cls_a", "seg")}  # what write_published_dir pickles
    write_published_dir(root / "published", ("cls_a", "seg"))
    shared = [ArchCode.from_row(r).to_string() for r in published["cls_a"][:5]]
    fresh = [c.to_string() for c in sample_codes(n=3, seed=404)]
    runs = [_run(rng, shared[i], "cls_a", seed) for i in range(3) for seed in (0, 1)]
    runs += [_run(rng, fresh[0], "cls_a", seed) for seed in (0, 1, 2)]
    runs += [_run(rng, shared[4], "cls_a", 0, synthetic=True), _run(rng, fresh[1], "cls_a", 0, synthetic=True)]
    runs += [_run(rng, fresh[2], "cls_a", 5)]
    runs += [_run(rng, shared[0], "seg", seed, schedule=False) for seed in (0, 1)]
    runs += [_run(rng, fresh[0], "seg", 0)]
    store = Store.open(str(root / "store"))
    import_official(store, str(root / "published"))
    for run in runs:
        store.commit_run(run.record())
    return Built(store.uri, runs, published, cls_a_only=fresh[2])
