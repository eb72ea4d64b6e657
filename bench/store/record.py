"""One attempt of (architecture, setting, seed): what a job commits to the store."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

from bench.code import ArchCode
from bench.config import canonical_json
from bench.errors import BenchError, check_int
from bench.job import Artifact, CurvePoint, JobResult, JobSpec, RunIdentity, check_variant
from bench.settings import get_setting
from bench.store import provenance
from bench.store.schema import COMMIT, STORE_COLUMNS

RUN_STATUSES = ("succeeded", "failed", "running")
STEP_UNITS = ("epoch", "iter")
ARTIFACT_KINDS = ("checkpoint", "log")

RunKey = tuple[str, str, int]  # (arch_id, setting, seed)


def _checked_metrics(values: Mapping[str, Any]) -> dict[str, float]:
    """Metric name -> float; infinity is refused (NaN is allowed: a metric undefined on this run,
    such as an AP of a class with no ground truth at a level)."""
    metrics = {}
    for name, value in dict(values).items():
        if not isinstance(name, str) or not name:
            raise BenchError(f"metric name {name!r} is invalid; valid is a non-empty string such as 'top1'")
        if name in STORE_COLUMNS:  # a metric of that name would make a second column of it: an unreadable table
            raise BenchError(f"metric name {name!r} is one of the store's own columns {sorted(STORE_COLUMNS)}; "
                             "name the metric otherwise")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise BenchError(f"metric {name}={value!r} is not a number") from None
        if math.isinf(number):
            raise BenchError(f"metric {name}={value!r} is infinite; valid is a finite number (or NaN: undefined)")
        metrics[name] = number
    return metrics


def _utc(value: datetime | float | None, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, datetime):
        # A naive datetime is taken as UTC; everything stored is UTC.
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    raise BenchError(f"{name}={value!r} is invalid; valid is a datetime, a POSIX timestamp or None")


@dataclass(frozen=True)
class RunRecord:
    """A run attempt, validated; ``code`` is kept in canonical official form.

    ``identity`` (8 hex digits) and ``data_kind`` are derived from ``variant``,
    ``dataset_id`` and ``config_hash`` (:class:`bench.job.RunIdentity`). Build one with
    :meth:`from_job` after a job, or directly::

        RunRecord(code="16_16-1_1_1_16-1_2_1_1_16_16-1_3_1_1_1_16_16_16-1_4_1_1_1_1_16_16_16_16-16",
                  setting="cls_a", seed=0, attempt=1, status="succeeded", metrics={"top1": 50.0},
                  config_hash="0123456789abcdef", dataset_id="manifest:...")
    """

    code: str
    setting: str
    seed: int
    attempt: int
    status: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    curve: tuple[CurvePoint, ...] = ()
    artifacts: tuple[Artifact, ...] = ()
    error: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    wall_seconds: float | None = None
    gpu_hours: float | None = None
    host: str | None = None
    gpu_model: str | None = None
    git_sha: str | None = None
    packages: Mapping[str, str] = field(default_factory=dict)
    config_json: str = "{}"
    config_hash: str = ""
    dataset_id: str = ""
    variant: str = ""
    info_json: str = "{}"
    arch_id: str = field(init=False, repr=False, compare=False, default="")
    identity: str = field(init=False, repr=False, compare=False, default="")
    data_kind: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)
        code = ArchCode.parse(self.code)
        set_("code", code.to_string())
        set_("arch_id", code.arch_id)
        if not get_setting(self.setting).trainable:
            raise BenchError(f"setting {self.setting!r} is imported only; it has no runs")
        check_int("seed", self.seed, 0)
        check_int("attempt", self.attempt, 1)
        check_variant(self.variant)
        if self.status not in RUN_STATUSES:
            raise BenchError(f"status={self.status!r} is invalid; valid statuses are {list(RUN_STATUSES)}")
        set_("metrics", _checked_metrics(self.metrics))
        main = get_setting(self.setting).main_metric
        if self.status == "succeeded":
            if self.error:
                raise BenchError(f"a succeeded run has no error, got error={self.error!r}")
            if main not in self.metrics or not math.isfinite(self.metrics[main]):
                raise BenchError(
                    f"a succeeded {self.setting} run needs a finite main metric {main!r}; got "
                    f"{ {k: v for k, v in self.metrics.items()} }"
                )
        if self.status == "failed" and not self.error:
            raise BenchError("a failed run needs its error text (error=...), so that a person can act on it")
        for point in self.curve:
            if not isinstance(point, CurvePoint) or point.step_unit not in STEP_UNITS:
                raise BenchError(f"curve point {point!r} is invalid; valid is a CurvePoint with step_unit in {STEP_UNITS}")
        for art in self.artifacts:
            if not isinstance(art, Artifact) or art.kind not in ARTIFACT_KINDS:
                raise BenchError(f"artifact {art!r} is invalid; valid is an Artifact with kind in {ARTIFACT_KINDS}")
        set_("curve", tuple(self.curve))
        set_("artifacts", tuple(self.artifacts))
        set_("started_at", _utc(self.started_at, "started_at"))
        set_("ended_at", _utc(self.ended_at, "ended_at"))
        set_("packages", {str(k): str(v) for k, v in dict(self.packages).items()})
        run_identity = RunIdentity(self.config_hash, self.dataset_id, self.variant)
        set_("identity", run_identity.tag)
        set_("data_kind", run_identity.data_kind)

    # ------------------------------------------------------------------ identity
    @property
    def key(self) -> RunKey:
        """(arch_id, setting, seed): what a sweep asks about."""
        return (self.arch_id, self.setting, self.seed)

    # ------------------------------------------------------------------ from a job
    @classmethod
    def from_job(
        cls,
        spec: JobSpec,
        result: JobResult | None,
        *,
        attempt: int,
        status: str | None = None,
        error: str | None = None,
        started_at: datetime | float | None = None,
        ended_at: datetime | float | None = None,
        host: str | None = None,
        gpu_model: str | None = None,
        git_sha: str | None = None,
        packages: Mapping[str, str] | None = None,
    ) -> RunRecord:
        """The record of one job attempt, with its provenance (code version, packages, host, GPU).

        ``result`` is None for a failure (then ``error`` says why). ``status`` defaults to
        ``succeeded`` with a result and ``failed`` without. ``wall_seconds`` is the job's own
        (or ended - started), ``gpu_hours`` wall time x the CUDA devices of the spec. Provenance
        left as None (host, GPU model, git commit, package versions) is this process's.
        """
        status = status or ("succeeded" if result is not None else "failed")
        if status == "succeeded" and result is None:
            raise BenchError("status='succeeded' needs the job's JobResult, got None")
        started, ended = _utc(started_at, "started_at"), _utc(ended_at, "ended_at")
        wall_seconds = None
        if result is not None and result.wall_seconds:
            wall_seconds = float(result.wall_seconds)
        elif started and ended:
            wall_seconds = (ended - started).total_seconds()
        n_gpus = sum(d.startswith("cuda") for d in spec.devices)
        gpu_hours = None if wall_seconds is None else wall_seconds * n_gpus / 3600.0
        identity = spec.identity
        return cls(
            code=spec.code.to_string(),
            setting=spec.setting,
            seed=spec.seed,
            attempt=attempt,
            status=status,
            metrics=dict(result.metrics) if result is not None else {},
            curve=tuple(result.curve) if result is not None else (),
            artifacts=tuple(result.artifacts) if result is not None else (),
            error=error,
            started_at=started,
            ended_at=ended,
            wall_seconds=wall_seconds,
            gpu_hours=gpu_hours,
            host=host if host is not None else provenance.host_name(),
            gpu_model=gpu_model if gpu_model is not None else provenance.gpu_model(spec.devices),
            git_sha=git_sha if git_sha is not None else provenance.git_sha(),
            packages=packages if packages is not None else provenance.package_versions(),
            config_json=canonical_json(spec.recipe),
            config_hash=identity.recipe_hash,
            dataset_id=identity.dataset,
            variant=identity.variant,
            info_json=canonical_json(dict(result.info) if result is not None else {}),
        )

    # ------------------------------------------------------------------ Arrow
    def to_table(self) -> pa.Table:
        """The one-row commit table (schema :data:`bench.store.schema.COMMIT`)."""
        row = {
            "arch_id": self.arch_id,
            "setting": self.setting,
            "seed": self.seed,
            "attempt": self.attempt,
            "code": self.code,
            "status": self.status,
            "error": self.error,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "wall_seconds": self.wall_seconds,
            "gpu_hours": self.gpu_hours,
            "host": self.host,
            "gpu_model": self.gpu_model,
            "git_sha": self.git_sha,
            "packages": sorted(self.packages.items()),
            "config_json": self.config_json,
            "config_hash": self.config_hash,
            "dataset_id": self.dataset_id,
            "variant": self.variant,
            "identity": self.identity,
            "data_kind": self.data_kind,
            "info_json": self.info_json,
            "metrics": [{"metric": k, "value": v} for k, v in sorted(self.metrics.items())],
            "curve": [
                {"step": p.step, "step_unit": p.step_unit, "metric": p.metric, "value": p.value} for p in self.curve
            ],
            "artifacts": [
                {"kind": a.kind, "uri": a.uri, "size": a.size, "sha256": a.sha256, "step": a.step}
                for a in self.artifacts
            ],
        }
        return pa.Table.from_pylist([row], schema=COMMIT)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunRecord:
        """Rebuild a record from a commit-table row (``table.to_pylist()`` item)."""
        return cls(
            code=row["code"],
            setting=row["setting"],
            seed=row["seed"],
            attempt=row["attempt"],
            status=row["status"],
            metrics={m["metric"]: m["value"] for m in row["metrics"] or ()},
            curve=tuple(CurvePoint(**p) for p in row["curve"] or ()),
            artifacts=tuple(Artifact(**a) for a in row["artifacts"] or ()),
            error=row["error"],
            started_at=row["started_at"],
            ended_at=row["ended_at"],
            wall_seconds=row["wall_seconds"],
            gpu_hours=row["gpu_hours"],
            host=row["host"],
            gpu_model=row["gpu_model"],
            git_sha=row["git_sha"],
            packages=dict(row["packages"] or ()),
            config_json=row["config_json"],
            config_hash=row["config_hash"] or "",
            dataset_id=row["dataset_id"] or "",
            variant=row["variant"] or "",
            info_json=row["info_json"],
        )

    def info(self) -> dict[str, Any]:
        """The job's extra facts (``JobResult.info``) as a dict."""
        return json.loads(self.info_json)


@dataclass(frozen=True)
class StoredIdentity:
    """The identity behind a tag, as a run recorded it (for messages that say what differs)."""

    tag: str
    variant: str
    data_kind: str
    config_hash: str
    dataset_id: str
    config_json: str

    def differences(self, recipe_json: str, identity: RunIdentity) -> str:
        """What differs from ``identity`` (whose recipe is ``recipe_json``), in words."""
        parts = []
        if self.dataset_id != identity.dataset:
            parts.append(f"dataset {self.dataset_id or '?'} vs {identity.dataset}")
        if self.config_hash != identity.recipe_hash:
            keys = _differing_keys(self.config_json, recipe_json)
            parts.append(f"recipe {self.config_hash or '?'} vs {identity.recipe_hash}"
                         + (f" (differs in {', '.join(keys[:6])}{', ...' if len(keys) > 6 else ''})" if keys else ""))
        return "; ".join(parts) or "identity differs"


def _differing_keys(a_json: str, b_json: str) -> list[str]:
    try:
        a, b = json.loads(a_json or "{}"), json.loads(b_json or "{}")
    except ValueError:
        return []
    out: list[str] = []

    def walk(x: object, y: object, path: str) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y)):
                walk(x.get(key), y.get(key), f"{path}.{key}" if path else key)
        elif x != y:
            out.append(f"{path}: {x!r} -> {y!r}")

    walk(a, b, "")
    return out
