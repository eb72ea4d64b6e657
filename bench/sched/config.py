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
from bench.settings import check_setting


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


def setting_of(cfg: DictConfig) -> str:
    """The setting being swept: ``cfg.setting`` if set, else the chosen ``task`` config's name."""
    name = cfg.get("setting")
    if name is None:
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            raise BenchError("no setting given: set setting=<name> or compose with task=<setting>")
        name = HydraConfig.get().runtime.choices["task"]
    return check_setting(str(name))


def build_run(cfg: DictConfig) -> SweepRun:
    """Turn a composed ``run.yaml`` into a :class:`SweepRun` (every value validated)."""
    setting = setting_of(cfg)
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
    recipe = _plain(cfg.task)
    if not isinstance(recipe, dict):
        raise BenchError(f"task config must be a mapping (a recipe), got {recipe!r}")
    job_name = cfg.get("job")
    if job_name is not None:
        recipe = {**recipe, "test_job": _plain(cfg.get("test_job")) or {}}
    template = JobTemplate(
        setting=setting,
        config=recipe,
        data_root=absolute_uri(str(cfg.data_root)),
        store_uri=store,
        work_root=absolute_uri(str(cfg.work_root)) if cfg.get("work_root") else f"{store.rstrip('/')}/work",
        job_name=job_name,
    )
    res = _plain(cfg.resources)
    resources = Resources(
        gpus=float(res.get("gpus", 0)),
        cpus=float(res.get("cpus", 1)),
        custom={str(k): float(v) for k, v in (res.get("custom") or {}).items()},
        small_gpu_fraction=res.get("small_gpu_fraction"),
        small_max_gflops=float(res.get("small_max_gflops", 1.0)),
    )
    options = DriverOptions(
        max_attempts=int(cfg.retry.max_attempts),
        timeout_s=cfg.get("timeout_s"),
        max_in_flight=cfg.get("max_in_flight"),
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
