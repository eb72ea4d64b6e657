"""Composed Hydra config (``conf/train.yaml``) -> :class:`~tasks.api.JobSpec`: the one place this happens.

The config needs two nodes, whatever file composed it:

- ``task``: the recipe (``conf/task/<setting>.yaml``, plus ``conf/smoke/toy_<setting>.yaml``
  under ``data=toy``), with ``setting`` and ``dataset`` keys;
- ``data``: ``kind`` (``real`` or ``toy``) and ``roots`` (dataset name -> root directory);

and may have ``work_root`` (where job work dirs go) and ``devices`` (a device list).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from bench.code import ArchCode
from bench.errors import BenchError, check_int
from bench.settings import get_setting
from tasks.api import JobSpec

DEFAULT_WORK_ROOT = "~/.cache/nasbench_mr/work"


def _plain(cfg: Any) -> Any:
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    return cfg


def work_dir_for(work_root: str | Path, setting: str, code: str, seed: int) -> Path:
    """``<work_root>/<setting>/<arch_id>/seed<seed>``: one directory per job, stable across restarts.

    Example:
        >>> work_dir_for("/w", "cls_a", "16_16-1_1_1_16-1_2_1_1_16_16-1_3_1_1_1_16_16_16-1_4_1_1_1_1_16_16_16_16-16", 0).as_posix()
        '/w/cls_a/dea9f722c4056001/seed0'
    """
    return Path(work_root).expanduser() / setting / ArchCode.parse(code).arch_id / f"seed{seed}"


def default_devices(gpus: int) -> tuple[str, ...]:
    """The recipe's ``gpus`` CUDA devices when CUDA is available, else the CPU."""
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if available == 0:
        return ("cpu",)
    if gpus > available:
        raise BenchError(
            f"the recipe asks for runtime.gpus={gpus} but this machine has {available} GPU(s); override "
            f"task.runtime.gpus={available} (the batch size stays the recipe's total) or pass devices=[...]"
        )
    return tuple(f"cuda:{i}" for i in range(gpus))


def build_job_spec(
    cfg: DictConfig | Mapping[str, Any],
    code: str,
    seed: int,
    *,
    work_dir: str | Path | None = None,
    devices: Sequence[str] | None = None,
    init_checkpoint: str | None = None,
) -> JobSpec:
    """Turn a composed config into the :class:`~tasks.api.JobSpec` of (``code``, setting, ``seed``).

    ``work_dir`` defaults to :func:`work_dir_for` under ``cfg.work_root``; ``devices`` to
    ``cfg.devices`` or :func:`default_devices`. Interpolations are resolved here, so
    the spec holds plain data only.

    Example:
        >>> cfg = {"task": {"setting": "cls_a", "dataset": "imagenet", "runtime": {"batch_size": 8, "gpus": 1}},
        ...        "data": {"kind": "toy", "roots": {"imagenet": "/toy/imagenet"}}, "work_root": "/w"}
        >>> spec = build_job_spec(cfg, "8_8-1_1_1_8-1_2_1_1_8_8-1_3_1_1_1_8_8_8-1_4_1_1_1_1_8_8_8_8-8", 0, devices=["cpu"])
        >>> spec.data_root, spec.config["data"]["kind"]
        ('/toy/imagenet', 'toy')
    """
    plain = _plain(cfg)
    if not isinstance(plain, Mapping) or "task" not in plain or "data" not in plain:
        raise BenchError("the config needs a 'task' node (the recipe) and a 'data' node (kind, roots)")
    recipe = dict(plain["task"])
    data = plain["data"]
    setting = get_setting(str(recipe.get("setting"))).name
    code_string = ArchCode.parse(code).to_string()
    check_int("seed", seed, 0)
    dataset = recipe.get("dataset")
    roots = data.get("roots") or {}
    if dataset not in roots:
        raise BenchError(f"data.roots has no entry for dataset {dataset!r}; it has {sorted(roots)}")
    root = roots[dataset]
    if root is None:
        env_name = f"{str(dataset).upper()}_ROOT"
        raise BenchError(
            f"no root is set for dataset {dataset!r}: pass data.roots.{dataset}=/path/to/{dataset} or set "
            f"${env_name} (or use data=toy for the generated tiny dataset)"
        )
    recipe["data"] = {**dict(recipe.get("data") or {}), "kind": data.get("kind", "real")}
    if work_dir is None:
        work_dir = work_dir_for(plain.get("work_root") or DEFAULT_WORK_ROOT, setting, code_string, seed)
    if devices is None:
        devices = plain.get("devices") or default_devices(int(recipe.get("runtime", {}).get("gpus", 1)))
    return JobSpec(
        code=code_string,
        setting=setting,
        seed=seed,
        config=recipe,
        data_root=str(Path(str(root)).expanduser()),
        work_dir=str(Path(work_dir).expanduser()),
        devices=tuple(devices),
        init_checkpoint=init_checkpoint,
    )
