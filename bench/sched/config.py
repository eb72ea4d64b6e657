"""The one place a composed ``conf/run.yaml`` becomes the scheduler's typed objects.

Everything downstream takes :class:`SweepRun`; nothing else reads the
OmegaConf tree. Local paths are made absolute here, because Ray workers do
not share the driver's working directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bench.errors import BenchError
from bench.sched.cluster import RayConnection
from bench.sched.driver import DriverOptions
from bench.sched.jobs import JobTemplate, Resources
from bench.sched.selection import Selection


@dataclass(frozen=True)
class SweepRun:
    """A whole ``launch/run.py`` invocation, typed."""

    setting: str
    seeds: tuple[int, ...]
    selection: Selection
    template: JobTemplate
    resources: Resources
    options: DriverOptions
    connection: RayConnection
    progress_interval_s: float
    export_at_end: bool
    export_out: str | None


def absolute_uri(uri: str) -> str:
    """A local path made absolute (``~`` expanded); URIs with a scheme are kept as they are."""
    if "://" in uri:
        return uri
    return str(Path(uri).expanduser().resolve())


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def _seeds(value: Any) -> tuple[int, ...]:
    seeds = [value] if isinstance(value, int) else list(value or [])
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise BenchError(f"seeds={value!r} is invalid; valid is an integer >= 0 or a non-empty list of them")
    if len(set(seeds)) != len(seeds):
        raise BenchError(f"seeds={value!r} repeats a seed; each (architecture, seed) is one job")
    return tuple(seeds)


def template_from_config(cfg: DictConfig, store: str) -> JobTemplate:
    """The sweep's shared job template, through the training jobs' own ``build_job_spec``.

    The recipe and data root do not depend on the architecture, so one spec,
    built for any valid code, gives them; the scheduler then varies code, seed,
    work dir and devices per job.
    """
    from bench.sched.codes import FROZEN_CODES
    from tasks import build_job_spec

    any_code = FROZEN_CODES.read_text().split("\n", 1)[0]
    work_root = absolute_uri(str(cfg.work_root)) if cfg.get("work_root") else f"{store.rstrip('/')}/work"
    spec = build_job_spec(cfg, any_code, 0, work_dir=work_root, devices=["cpu"])
    recipe = dict(spec.config)
    job_name = cfg.get("job")
    if job_name is not None:
        recipe["test_job"] = _plain(cfg.get("test_job")) or {}
    return JobTemplate(
        setting=spec.setting,
        config=recipe,
        data_root=absolute_uri(spec.data_root),
        store_uri=store,
        work_root=work_root,
        job_name=job_name,
    )


def recipe_workers(template: JobTemplate) -> int:
    """The recipe's data-loading worker count (``runtime.workers``), 0 when it has none."""
    runtime = template.config.get("runtime") or {}
    return int(runtime.get("workers", 0) or 0)


def build_run(cfg: DictConfig) -> SweepRun:
    """Turn a composed ``run.yaml`` into a :class:`SweepRun` (every value validated)."""
    sweep = _plain(cfg.sweep)
    selection = Selection(
        name=str(sweep.get("name", "custom")),
        source=str(sweep.get("source", "frozen")),
        codes_file=sweep.get("codes_file"),
        sha256=sweep.get("sha256"),
        smallest=sweep.get("smallest"),
        start=sweep.get("start"),
        stop=sweep.get("stop"),
        shard_index=sweep.get("shard_index", 0),
        num_shards=sweep.get("num_shards", 1),
    )
    store = absolute_uri(str(cfg.store))
    template = template_from_config(cfg, store)
    setting = template.setting
    res = _plain(cfg.resources)
    resources = Resources(
        gpus=float(res.get("gpus", 0)),
        cpus=float(res["cpus"]) if res.get("cpus") is not None else float(max(1, recipe_workers(template))),
        custom={str(k): float(v) for k, v in (res.get("custom") or {}).items()},
        small_gpu_fraction=res.get("small_gpu_fraction"),
        small_max_gflops=float(res.get("small_max_gflops", 1.0)),
    )
    options = DriverOptions(
        max_attempts=int(cfg.retry.max_attempts),
        timeout_s=cfg.get("timeout_s"),
        max_in_flight=cfg.get("max_in_flight"),
        max_consecutive_failures=cfg.get("max_consecutive_failures"),
        poll_s=float(cfg.get("poll_s", 1.0)),
        dependency_wait_s=float(cfg.get("dependency_wait_s", 0.0)),
        retry_failed=selection.source == "retry_failed",
    )
    ray_cfg = _plain(cfg.ray)
    connection = RayConnection(
        address=ray_cfg.get("address"),
        num_cpus=ray_cfg.get("num_cpus"),
        num_gpus=ray_cfg.get("num_gpus"),
        resources=ray_cfg.get("resources") or {},
        namespace=str(ray_cfg.get("namespace", "nasbench-mr")),
        object_store_memory=ray_cfg.get("object_store_memory"),
        log_to_driver=bool(ray_cfg.get("log_to_driver", False)),
    )
    export = _plain(cfg.get("export")) or {}
    return SweepRun(
        setting=setting,
        seeds=_seeds(_plain(cfg.seeds)),
        selection=selection,
        template=template,
        resources=resources,
        options=options,
        connection=connection,
        progress_interval_s=float(cfg.get("progress_interval_s", 30.0)),
        export_at_end=bool(export.get("at_end", True)),
        export_out=absolute_uri(str(export["out"])) if export.get("out") else None,
    )
