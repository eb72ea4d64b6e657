"""Training jobs: one package per task type, each an ordinary task of the shared engine (:mod:`tasks.engine`).

``tasks.TASKS`` is the registry of :class:`bench.job.TaskType` entries (``cls``, ``seg``, ``video``,
``det3d``) that the launchers hand to the core: a setting's ``task`` (:mod:`bench.settings`)
names its entry, which gives the recipe type its config parses into, the job function and how
the job's dataset is identified. Adding a task type is one package with a ``job.py`` defining
``TASK`` and one line below (docs/architecture.md).

The registry loads lazily: importing :mod:`tasks` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["TASKS", "recipe_type_of"]

TASK_MODULES = ("tasks.classification.job", "tasks.segmentation.job", "tasks.video.job", "tasks.det3d.job")


def _build() -> Any:
    from bench.registry import Registry

    registry = Registry("task type")
    for module in TASK_MODULES:
        task = importlib.import_module(module).TASK
        registry.register(task.name)(task)
    return registry


def recipe_type_of(setting: str) -> type:
    """The recipe dataclass of ``setting``'s task type (for messages about recipe keys)."""
    from bench.settings import get_setting

    return __getattr__("TASKS").get(get_setting(setting).task).recipe_type


def __getattr__(name: str) -> Any:
    if name == "TASKS":
        registry = _build()
        globals()["TASKS"] = registry
        return registry
    raise AttributeError(f"module 'tasks' has no attribute {name!r}")
