"""Train ONE job (architecture, setting, seed) without a scheduler: ``launch/train.py``'s body.

The composed ``conf/train.yaml`` parses into :class:`TrainConfig` (unknown keys refused);
the run's identity (recipe, dataset, variant) is checked against the store before anything
trains: the same identity already succeeded -> nothing to do (``rerun=true`` records another
attempt); another identity of the same group succeeded -> refused, saying what differs;
generated (toy) data into a store of real or published results -> refused unless
``allow_synthetic=true`` (they are kept apart either way).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.attempt import run_attempt
from bench.code import ArchCode
from bench.config import parse, resolve
from bench.errors import BenchError
from bench.experiment import DataConfig, Experiment, build_experiment
from bench.guard import refuse_mixing
from bench.job import JobSpec, TaskType, default_work_root, work_dir_for
from bench.registry import Registry
from bench.settings import get_setting
from bench.store import Store, resume_status


@dataclass(frozen=True)
class TrainConfig:
    """The keys of ``conf/train.yaml`` (see its comments)."""

    code: str
    store: str
    task: Mapping[str, Any]
    data: DataConfig
    seed: int = 0
    work_root: str | None = None
    devices: tuple[str, ...] | None = None
    init_checkpoint: str | None = None
    rerun: bool = False
    variant: str = ""
    allow_synthetic: bool = False


def default_devices(gpus: int) -> tuple[str, ...]:
    """The recipe's ``gpus`` CUDA devices when CUDA is available, else the CPU."""
    import torch

    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if available == 0 or gpus == 0:
        return ("cpu",)
    if gpus > available:
        raise BenchError(
            f"the recipe asks for runtime.gpus={gpus} but this machine has {available} GPU(s); override "
            f"task.runtime.gpus={available} (the batch size stays the recipe's total) or pass devices=[...]"
        )
    return tuple(f"cuda:{i}" for i in range(gpus))


def parse_train(cfg: Any, tasks: Registry[TaskType]) -> tuple[TrainConfig, Experiment, ArchCode]:
    """A composed ``conf/train.yaml`` as typed objects: the config, its experiment and the code."""
    top = parse(TrainConfig, resolve(cfg))
    code = ArchCode.from_string(top.code)
    return top, build_experiment(top.task, top.data, tasks, top.variant), code


def train_one(cfg: Any, tasks: Registry[TaskType]) -> int:
    """Run ``launch/train.py`` on a composed config; returns the exit code (0 done, 1 the job failed)."""
    top, experiment, code = parse_train(cfg, tasks)
    store = Store.open(top.store)
    setting = experiment.setting
    key = (code.arch_id, setting, top.seed)
    status = resume_status(store, [key], experiment.identity)
    if key in status.done and not top.rerun:
        print(f"{setting} {code} seed {top.seed} already succeeded in {top.store} with this recipe and dataset; "
              "nothing to do (rerun=true records another attempt; it resumes from the work dir)", flush=True)
        return 0
    refuse_mixing(store, experiment, status, top.allow_synthetic)
    init_checkpoint = top.init_checkpoint or find_init_checkpoint(store, experiment, code, top.seed)
    work_dir = work_dir_for(top.work_root or default_work_root(top.store), setting, code, top.seed, experiment.identity)
    spec = JobSpec(code=code, setting=setting, seed=top.seed, recipe=experiment.recipe, data=experiment.data,
                   work_dir=work_dir, devices=top.devices or default_devices(experiment.recipe.runtime.gpus),
                   init_checkpoint=init_checkpoint, variant=experiment.variant)
    attempt = status.next_attempt(key)
    outcome = run_attempt(store, spec, experiment.task.run, attempt, echo=True, commit_bad_input=False)
    if outcome.kind == "bad_input":
        raise BenchError(outcome.message)
    if outcome.kind is not None:
        where = f"attempt {attempt} recorded in {top.store}" if outcome.committed else "nothing recorded"
        print(f"error: {setting} job failed ({where}): {outcome.error}", flush=True)
        return 1
    result = outcome.result
    print(json.dumps({"setting": setting, "arch_id": code.arch_id, "seed": top.seed, "attempt": attempt,
                      "variant": experiment.variant, "data_kind": experiment.identity.data_kind,
                      "metrics": dict(result.metrics), "wall_seconds": round(result.wall_seconds, 1),
                      "committed": outcome.committed}), flush=True)
    return 0


def find_init_checkpoint(store: Store, experiment: Experiment, code: ArchCode, seed: int) -> str | None:
    """The store's newest checkpoint of the setting's ``init_from`` setting, same code, seed and kind of data."""
    source = get_setting(experiment.setting).init_from
    if source is None:
        return None
    kind = experiment.identity.data_kind
    found = store.find_checkpoint(code.arch_id, source, seed, data_kind=kind)
    if found is None:
        raise BenchError(
            f"{experiment.setting} starts from the {source} checkpoint of code {code} seed {seed}, and store "
            f"{store.uri} has no succeeded {source} run of it on {kind} data: run `python launch/train.py "
            f"task={source} code={code} seed={seed} store={store.uri}` first (same data=), or pass init_checkpoint=URI"
        )
    return found
