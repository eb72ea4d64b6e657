"""The job contract: what a training job receives, what it hands back, and how a task type plugs in.

A job is a pure function of its :class:`JobSpec`: it trains one architecture on
one setting with one seed under one recipe and dataset, evaluates on schedule,
checkpoints into ``spec.work_dir`` (resuming from the newest checkpoint there
when restarted) and returns a :class:`JobResult`. It never writes the store:
the caller (``launch/train.py`` or a scheduler worker) commits the result with
its provenance through :mod:`bench.store.commit`, so a job cannot leave a
half-written row behind.

The core never imports the jobs (``tasks/``): a task type is registered as a
:class:`TaskType` in the registry the launchers build from ``tasks`` and hand
to the scheduler.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from bench.code import ArchCode
from bench.config import config_hash
from bench.errors import BenchError, check_int
from bench.recipe import Recipe
from bench.settings import get_setting

DATA_KINDS = ("real", "toy")


@dataclass(frozen=True)
class DataSource:
    """Where a job's data is and which dataset it is.

    ``kind`` is ``real`` (the user's copy at ``root``) or ``toy`` (a tiny dataset the job
    generates under ``root``: synthetic, never benchmark data). ``identity`` names the
    exact dataset: the content hash of its manifest (or file list) for real data,
    ``synthetic:<generator>`` for generated data. It is part of every run's identity.
    """

    kind: Literal["real", "toy"]
    root: str
    identity: str

    def __post_init__(self) -> None:
        if self.kind not in DATA_KINDS:
            raise BenchError(f"data.kind={self.kind!r} is invalid; valid kinds are {list(DATA_KINDS)}")
        if self.synthetic != self.identity.startswith("synthetic:"):
            raise BenchError(f"data identity {self.identity!r} does not match data.kind={self.kind!r}")

    @property
    def synthetic(self) -> bool:
        return self.kind == "toy"


@dataclass(frozen=True)
class RunIdentity:
    """What makes two runs of one (architecture, setting, seed) the same experiment.

    ``recipe_hash`` is :func:`bench.config.config_hash` of the typed recipe, ``dataset`` the
    :class:`DataSource` identity, ``variant`` a user's label for a deliberate other
    recipe or dataset kept apart from the setting's benchmark rows ("" is the benchmark).
    """

    recipe_hash: str
    dataset: str
    variant: str = ""

    @property
    def tag(self) -> str:
        """8 hex digits naming the identity in file names (commit files, work dirs)."""
        text = f"{self.variant}\n{self.dataset}\n{self.recipe_hash}"
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    @property
    def data_kind(self) -> str:
        """``synthetic`` or ``real``: how the store files the run."""
        return "synthetic" if self.dataset.startswith("synthetic:") else "real"


def check_variant(name: str) -> str:
    """A variant label: empty (the benchmark) or a short lower-case name such as ``short-schedule``."""
    if name and not (len(name) <= 40 and all(c.isalnum() and c.islower() or c.isdigit() or c in "-_" for c in name)):
        raise BenchError(f"variant={name!r} is invalid; valid is empty or up to 40 of a-z, 0-9, '-' and '_'")
    return name


@dataclass(frozen=True)
class JobSpec:
    """Everything a job needs; every field is validated, typed data."""

    code: ArchCode
    setting: str
    seed: int
    recipe: Recipe
    data: DataSource
    work_dir: str  # checkpoints and log of this run identity; survives restarts
    devices: tuple[str, ...] = ("cpu",)  # e.g. ("cuda:0", "cuda:1"): DDP over them
    init_checkpoint: str | None = None  # the setting's ``init_from`` checkpoint of the same code
    variant: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.code, ArchCode):
            raise BenchError(f"JobSpec.code must be an ArchCode, got {type(self.code).__name__}")
        if get_setting(self.setting).task is None:
            raise BenchError(f"setting {self.setting!r} is imported only; it has no training job")
        if self.recipe.setting != self.setting:
            raise BenchError(f"the recipe is for setting {self.recipe.setting!r}, the job for {self.setting!r}")
        check_int("seed", self.seed, 0)
        check_variant(self.variant)

    @property
    def identity(self) -> RunIdentity:
        return RunIdentity(config_hash(self.recipe), self.data.identity, self.variant)

    def label(self) -> str:
        return f"{self.setting}/{self.code.arch_id}/seed{self.seed}"


@dataclass(frozen=True)
class CurvePoint:
    """One evaluation during training: ``step`` counts the recipe's ``step_unit``."""

    step: int
    step_unit: Literal["epoch", "iter"]
    metric: str
    value: float


@dataclass(frozen=True)
class Artifact:
    """A file the job produced (checkpoint, log), addressed by URI, with its size (bytes) and sha256."""

    kind: Literal["checkpoint", "log"]
    uri: str
    size: int
    sha256: str
    step: int | None = None


@dataclass(frozen=True)
class JobResult:
    """Final metrics under the paper's names, the curve, the artifacts and the job's own facts."""

    metrics: Mapping[str, float]
    curve: tuple[CurvePoint, ...] = ()
    artifacts: tuple[Artifact, ...] = ()
    wall_seconds: float = 0.0
    info: Mapping[str, Any] = field(default_factory=dict)  # counts, precision used, device, resume point


class JobFn(Protocol):
    """A training job: ``job(spec) -> JobResult``; raises :class:`~bench.errors.BenchError` for bad input."""

    def __call__(self, spec: JobSpec) -> JobResult: ...


@dataclass(frozen=True)
class TaskType:
    """A task the project can train (classification, segmentation, video, 3D detection).

    ``recipe_type`` is the :class:`~bench.recipe.Recipe` subclass its ``conf/task`` files parse
    into; ``run`` trains one job; ``data_identity(recipe, kind, root)`` names the dataset a job
    would read (:attr:`DataSource.identity`) without training, so the scheduler can tell
    before running whether a job is already done. Every function is module-level (it
    crosses process boundaries by reference).
    """

    name: str
    recipe_type: type[Recipe]
    run: JobFn
    data_identity: Callable[[Recipe, str, str], str]


def work_dir_for(work_root: str, setting: str, code: ArchCode, seed: int, identity: RunIdentity) -> str:
    """``<work_root>/<setting>/<arch_id>/s<seed>-<identity tag>``: one directory per run identity.

    Stable across restarts (a restarted job resumes there); another recipe or dataset of the same
    (architecture, setting, seed) gets its own directory, so it never resumes the wrong run.

    Example:
        >>> code = ArchCode.from_string("8_8-1_1_1_8-1_2_1_1_8_8-1_3_1_1_1_8_8_8-1_4_1_1_1_1_8_8_8_8-8")
        >>> work_dir_for("/w", "cls_a", code, 0, RunIdentity("abc", "synthetic:imagenet"))
        '/w/cls_a/a98d20dd96da4b39/s0-ec31df4c'
    """
    return f"{work_root.rstrip('/')}/{setting}/{code.arch_id}/s{seed}-{identity.tag}"


DEFAULT_WORK_ROOT = "~/.cache/nasbench_mr/work"


def default_work_root(store_uri: str) -> str:
    """Where job work dirs go when ``work_root`` is not given.

    Beside the results for a local store (``<store>/work``); for an object store the user's
    cache (``~/.cache/nasbench_mr/work``), since checkpoints are written as local files: on a
    cluster with a remote store, set ``work_root`` to a directory every node sees, or a job
    moved to another node restarts from scratch.
    """
    if "://" not in store_uri or store_uri.startswith("file://"):
        return str(Path(store_uri.removeprefix("file://")).expanduser().resolve() / "work")
    return str(Path(DEFAULT_WORK_ROOT).expanduser())
