"""The one place a composed ``conf/run.yaml`` becomes the scheduler's typed objects.

:class:`RunConfig` mirrors ``conf/run.yaml`` key for key, so an unknown key (a typo added
with Hydra's ``+``) is an error naming its path; :func:`build_run` turns it into a
:class:`SweepRun`, which everything downstream takes, and :func:`build_plan` (``plan=true``)
into a :class:`PlanRun`, which needs no dataset. Local paths are made absolute here,
because Ray workers do not share the driver's working directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench.config import ConfigError, parse, resolve
from bench.errors import BenchError, check_seconds
from bench.experiment import DataConfig, Experiment, build_experiment, parse_recipe
from bench.job import TaskType, check_variant, default_work_root
from bench.recipe import Recipe
from bench.registry import Registry
from bench.sched.cluster import RayConnection
from bench.sched.driver import DriverOptions
from bench.sched.jobs import JobTemplate, Resources
from bench.sched.selection import Selection
from bench.sched.testing_jobs import ScriptedOptions, scripted_experiment
from bench.sched.throughput import ThroughputTable


@dataclass(frozen=True)
class ResourcesConfig:
    """``resources`` (see :class:`bench.sched.jobs.Resources`); ``cpus`` null: the recipe's data-loading workers."""

    gpus: float = 0.0
    cpus: float | None = None
    custom: Mapping[str, float] = field(default_factory=dict)
    small_gpu_fraction: float | None = None
    small_max_gflops: float = 1.0


@dataclass(frozen=True)
class RetryConfig:
    max_attempts: int = 3


@dataclass(frozen=True)
class ExportConfig:
    at_end: bool = True
    out: str | None = None


@dataclass(frozen=True)
class RunConfig:
    """The keys of ``conf/run.yaml`` (its comments say what each does)."""

    task: Mapping[str, Any]
    data: DataConfig
    sweep: Selection
    ray: RayConnection
    store: str = "store"
    work_root: str | None = None
    seeds: int | tuple[int, ...] = (0,)
    variant: str = ""
    allow_synthetic: bool = False
    job: Literal["scripted"] | None = None
    test_job: ScriptedOptions = field(default_factory=ScriptedOptions)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    timeout_s: float | None = None
    max_in_flight: int | None = None
    max_consecutive_failures: int | None = 20
    dependency_wait_s: float = 0.0
    poll_s: float = 1.0
    progress_interval_s: float = 30.0
    export: ExportConfig = field(default_factory=ExportConfig)
    plan: bool = False
    plan_gpus: int | None = None
    throughput: ThroughputTable = field(default_factory=ThroughputTable)

    def __post_init__(self) -> None:
        check_seconds("progress_interval_s", self.progress_interval_s)


@dataclass(frozen=True)
class SweepRun:
    """A whole ``launch/run.py`` invocation, typed."""

    seeds: tuple[int, ...]
    selection: Selection
    template: JobTemplate
    resources: Resources
    options: DriverOptions
    connection: RayConnection
    progress_interval_s: float
    export_at_end: bool
    export_out: str | None
    allow_synthetic: bool = False

    @property
    def setting(self) -> str:
        return self.template.setting


@dataclass(frozen=True)
class PlanRun:
    """What ``plan=true`` needs: the sweep's selection and recipe, without training anything.

    ``experiment`` is None when the dataset could not be identified (not there, no root given):
    ``unchecked`` then says why, and resume cannot be checked against the store.
    ``gpus`` is the number of GPUs to plan for (``plan_gpus``, else a local Ray's ``ray.num_gpus``;
    None: not known).
    """

    setting: str
    recipe: Recipe
    experiment: Experiment | None
    unchecked: str | None
    synthetic: bool
    seeds: tuple[int, ...]
    selection: Selection
    store_uri: str
    resources: Resources
    options: DriverOptions
    allow_synthetic: bool
    gpus: int | None
    throughput: ThroughputTable


def absolute_uri(uri: str) -> str:
    """A local path made absolute (``~`` expanded); URIs with a scheme are kept as they are."""
    if "://" in uri:
        return uri
    return str(Path(uri).expanduser().resolve())


def _seeds(value: int | tuple[int, ...]) -> tuple[int, ...]:
    seeds = (value,) if isinstance(value, int) else tuple(value)
    if not seeds or any(s < 0 for s in seeds):
        raise ConfigError(f"seeds={value!r} is invalid; valid is an integer >= 0 or a non-empty list of them")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds={value!r} repeats a seed; each (architecture, seed) is one job")
    return seeds


def _experiment(top: RunConfig, store: str, tasks: Registry[TaskType]) -> Experiment:
    if top.job == "scripted":
        setting = str(top.task.get("setting"))
        return scripted_experiment(setting, top.test_job, absolute_uri(f"{store}/data"), top.variant)
    return build_experiment(top.task, top.data, tasks, top.variant)


def parse_run(cfg: Any) -> RunConfig:
    """A composed ``run.yaml`` as a :class:`RunConfig` (every value validated, unknown keys refused)."""
    return parse(RunConfig, resolve(cfg))


def build_run(cfg: Any, tasks: Registry[TaskType]) -> SweepRun:
    """Turn a composed ``run.yaml`` (or its parsed :class:`RunConfig`) into a :class:`SweepRun`."""
    top = cfg if isinstance(cfg, RunConfig) else parse_run(cfg)
    store = absolute_uri(top.store)
    experiment = _experiment(top, store, tasks)
    work_root = absolute_uri(top.work_root) if top.work_root else default_work_root(store)
    resources, options = _resources_and_options(top, experiment.recipe)
    return SweepRun(
        seeds=_seeds(top.seeds),
        selection=top.sweep,
        template=JobTemplate(experiment, store, work_root),
        resources=resources,
        options=options,
        connection=top.ray,
        progress_interval_s=top.progress_interval_s,
        export_at_end=top.export.at_end,
        export_out=absolute_uri(top.export.out) if top.export.out else None,
        allow_synthetic=top.allow_synthetic,
    )


def build_plan(cfg: Any, tasks: Registry[TaskType]) -> PlanRun:
    """Turn a composed ``run.yaml`` (or its :class:`RunConfig`) into a :class:`PlanRun`; no dataset is needed.

    A bad recipe or key is still an error; a dataset that cannot be found or identified is not:
    the plan then says that resume could not be checked.
    """
    top = cfg if isinstance(cfg, RunConfig) else parse_run(cfg)
    store = absolute_uri(top.store)
    check_variant(top.variant)
    if top.plan_gpus is not None and top.plan_gpus < 1:
        raise ConfigError(f"plan_gpus={top.plan_gpus} is invalid; valid is null (a local Ray's ray.num_gpus) or >= 1")
    experiment, unchecked = None, None
    if top.job == "scripted":
        experiment = _experiment(top, store, tasks)
        recipe = experiment.recipe
    else:
        _, recipe = parse_recipe(top.task, tasks)  # recipe errors are the user's to fix, even for a plan
        try:
            experiment = build_experiment(top.task, top.data, tasks, top.variant)
        except BenchError as err:  # the dataset is absent or unidentifiable: plan without resume
            unchecked = str(err)
    resources, options = _resources_and_options(top, recipe)
    local_gpus = top.ray.num_gpus if top.ray.address is None else None
    return PlanRun(
        setting=recipe.setting,
        recipe=recipe,
        experiment=experiment,
        unchecked=unchecked,
        synthetic=top.data.kind == "toy",
        seeds=_seeds(top.seeds),
        selection=top.sweep,
        store_uri=store,
        resources=resources,
        options=options,
        allow_synthetic=top.allow_synthetic,
        gpus=top.plan_gpus if top.plan_gpus is not None else local_gpus,
        throughput=top.throughput,
    )


def _resources_and_options(top: RunConfig, recipe: Recipe) -> tuple[Resources, DriverOptions]:
    workers = recipe.runtime.workers
    res = top.resources
    try:
        resources = Resources(gpus=res.gpus, cpus=res.cpus if res.cpus is not None else float(max(1, workers)),
                              custom=dict(res.custom), small_gpu_fraction=res.small_gpu_fraction,
                              small_max_gflops=res.small_max_gflops)
        options = DriverOptions(max_attempts=top.retry.max_attempts, timeout_s=top.timeout_s,
                                max_in_flight=top.max_in_flight, max_consecutive_failures=top.max_consecutive_failures,
                                poll_s=top.poll_s, dependency_wait_s=top.dependency_wait_s,
                                retry_failed=top.sweep.source == "retry_failed")
    except BenchError as err:
        raise ConfigError(str(err)) from None
    return resources, options
