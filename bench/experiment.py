"""What every launcher's config names: a setting's typed recipe and the data it trains on.

The ``task`` node of a composed config (``conf/task/<setting>.yaml``, with the smoke recipe
layered on under ``data=toy``) parses into the :class:`~bench.recipe.Recipe` subclass of the
setting's task type; the ``data`` node names the dataset roots and whether the data is real
or generated. :func:`build_experiment` turns both into an :class:`Experiment` once, including
the dataset's identity (the content hash of its manifest or file list, or the synthetic
marker), so the store can tell before training whether a run of the same identity exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench.config import ConfigError, config_hash, parse
from bench.errors import BenchError
from bench.job import DataSource, RunIdentity, TaskType, check_variant
from bench.recipe import Recipe
from bench.registry import Registry
from bench.settings import get_setting


@dataclass(frozen=True)
class DataConfig:
    """The ``data`` node (``conf/data/{real,toy}.yaml``): ``roots`` maps a recipe's ``dataset`` to its
    root directory; ``toy`` data is generated there on first use (and is never benchmark data)."""

    kind: Literal["real", "toy"] = "real"
    roots: Mapping[str, str | None] = field(default_factory=dict)
    toy_root: str | None = None
    root: str | None = None  # the chosen task's root (an interpolation of roots); informational


@dataclass(frozen=True)
class Experiment:
    """A setting's task type, its typed recipe, the data source and the run variant: all a job needs
    but the architecture, the seed and where it runs."""

    task: TaskType
    recipe: Recipe
    data: DataSource
    variant: str = ""

    @property
    def setting(self) -> str:
        return self.recipe.setting

    @property
    def identity(self) -> RunIdentity:
        return RunIdentity(config_hash(self.recipe), self.data.identity, self.variant)


def parse_recipe(task_node: Mapping[str, Any], tasks: Registry[TaskType]) -> tuple[TaskType, Recipe]:
    """The task type and typed recipe of a ``task`` node (its ``setting`` key picks both)."""
    if not isinstance(task_node, Mapping) or "setting" not in task_node:
        raise ConfigError("the config needs a task node with a 'setting' key (conf/task/<setting>.yaml): pass task=<setting>")
    setting = get_setting(str(task_node["setting"]))
    if setting.task is None:
        raise ConfigError(f"setting {setting.name!r} is imported only; it has no training recipe")
    task = tasks.get(setting.task)
    return task, parse(task.recipe_type, task_node, "task")


def build_experiment(task_node: Mapping[str, Any], data: DataConfig, tasks: Registry[TaskType],
                     variant: str = "") -> Experiment:
    """Parse the recipe, resolve the dataset root and identify the dataset (see the module docstring)."""
    task, recipe = parse_recipe(task_node, tasks)
    dataset = recipe.dataset
    if dataset not in data.roots:
        raise ConfigError(f"data.roots has no entry for dataset {dataset!r}; it has {sorted(data.roots)}")
    root = data.roots[dataset]
    if root is None:
        raise ConfigError(
            f"no root is set for dataset {dataset!r}: pass data.roots.{dataset}=/path/to/{dataset} or set "
            f"${dataset.upper()}_ROOT (or use data=toy for the generated tiny dataset)"
        )
    root = str(Path(root).expanduser().resolve()) if "://" not in root else root
    if data.kind == "real" and not Path(root).is_dir():
        raise BenchError(f"{dataset} root {root!r} does not exist; point data.roots.{dataset} at your copy "
                         "(or use data=toy)")
    identity = task.data_identity(recipe, data.kind, root)
    return Experiment(task, recipe, DataSource(data.kind, root, identity), check_variant(variant))
