"""Train ONE job (architecture, setting, seed) without Ray, and commit its result to the store.

    python launch/train.py task=cls_a code=<official code string> store=/path/to/store
    python launch/train.py task=seg code=... store=... data=toy              # smoke recipe, generated data
    python launch/train.py task=video_p code=... store=...                   # finds the cls_a checkpoint in the store
    python launch/train.py task=cls_a code=... store=... task.optim.lr=0.05 task.runtime.gpus=1 seed=1

Any recipe value is overridable (``task.<section>.<key>=...``). The job resumes
from its own newest checkpoint in ``<work_root>/<setting>/<arch_id>/seed<seed>``,
so rerunning a killed command continues it. Exit status: 0 succeeded, 1 the job
failed (recorded in the store), 2 bad input (nothing recorded). See docs/training.md.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
import traceback
from pathlib import Path

import fsspec
import hydra
from omegaconf import DictConfig, OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bench.code import ArchCode
from bench.errors import BenchError
from bench.store import RunRecord, Store
from tasks import JOBS, build_job_spec
from tasks.api import JobSpec
from tasks.engine.spec import DEFAULT_WORK_ROOT

log = logging.getLogger("launch.train")


def default_work_root(store_uri: str) -> str:
    """``<store>/work`` for a local store (checkpoints next to the results), else the user cache."""
    if "://" not in store_uri or store_uri.startswith("file://"):
        return str(Path(store_uri.removeprefix("file://")).expanduser().resolve() / "work")
    return DEFAULT_WORK_ROOT


def find_init_checkpoint(cfg: DictConfig, store: Store, code: ArchCode, seed: int) -> str | None:
    """video_p's start: ``init_checkpoint=`` if given, else the store's newest checkpoint of the same code."""
    if cfg.get("init_checkpoint"):
        return str(cfg.init_checkpoint)
    from_setting = OmegaConf.select(cfg, "task.init.from_setting")
    if not from_setting:
        return None
    found = store.find_checkpoint(code.arch_id, str(from_setting), seed)
    if found is None:
        raise BenchError(
            f"{cfg.task.setting} starts from the {from_setting} checkpoint of code {code.to_string()} seed {seed}, "
            f"and store {str(cfg.store)!r} has no succeeded {from_setting} run of it: run "
            f"`python launch/train.py task={from_setting} code={code.to_string()} seed={seed} store={cfg.store}` first, "
            "or pass init_checkpoint=URI"
        )
    return found


def copy_log(spec: JobSpec, store: Store, attempt: int) -> None:
    source = Path(spec.work_dir) / "train.log"
    if source.exists():
        uri = store.log_uri(ArchCode.parse(spec.code).arch_id, spec.setting, spec.seed, attempt)
        with open(source, "rb") as src, fsspec.open(uri, "wb") as dst:
            shutil.copyfileobj(src, dst)


def run(cfg: DictConfig) -> int:
    for key in ("code", "store"):
        if OmegaConf.is_missing(cfg, key):
            raise BenchError(f"{key} is required: python launch/train.py task=<setting> code=<official code string> store=<store URI>")
    if not isinstance(cfg.code, str):  # Hydra reads an unquoted 1_2_3 as the number 123
        raise BenchError(f"code={cfg.code!r} was read as a {type(cfg.code).__name__}, not a code string; "
                         "pass the official string, e.g. code=16_16-1_1_1_16-1_2_1_1_16_16-1_3_1_1_1_16_16_16-1_4_1_1_1_1_16_16_16_16-16")
    store = Store.open(str(cfg.store))
    code = ArchCode.parse(cfg.code)
    seed = int(cfg.seed)
    init_checkpoint = find_init_checkpoint(cfg, store, code, seed)
    work_root = cfg.get("work_root") or default_work_root(str(cfg.store))
    spec = build_job_spec(
        OmegaConf.merge(cfg, {"work_root": work_root}), code.to_string(), seed, init_checkpoint=init_checkpoint
    )
    if spec.config["data"]["kind"] == "real" and not Path(spec.data_root).is_dir():
        raise BenchError(
            f"{spec.config.get('dataset')} root {spec.data_root!r} does not exist; point "
            f"data.roots.{spec.config.get('dataset')} at your copy (or use data=toy)"
        )
    key = (code.arch_id, spec.setting, seed)
    status = store.resume_status([key])
    if key in status.done and not cfg.rerun:
        print(f"{spec.setting} {code.to_string()} seed {seed} already succeeded in {cfg.store}; nothing to do "
              "(rerun=true records another attempt; it resumes from the work dir, delete that to retrain)", flush=True)
        return 0
    attempt = status.next_attempt(key)
    log.info("training %s %s seed %d (attempt %d) on %s; work dir %s", spec.setting, code.to_string(), seed, attempt,
             list(spec.devices), spec.work_dir)
    started = time.time()
    try:
        result = JOBS.get(spec.setting)(spec)
    except Exception as exc:  # noqa: BLE001 (any failure of the job is recorded, then reported)
        # A job that fails is recorded (with its error) so the store tells the whole story.
        error = str(exc) if isinstance(exc, BenchError) else "".join(traceback.format_exception(exc))[-4000:]
        copy_log(spec, store, attempt)
        store.commit_run(RunRecord.from_job(spec, None, attempt=attempt, status="failed", error=error,
                                            started_at=started, ended_at=time.time()))
        print(f"error: {spec.setting} job failed (attempt {attempt} recorded in {cfg.store}): {error}",
              file=sys.stderr, flush=True)
        return 1
    copy_log(spec, store, attempt)
    uri = store.commit_run(RunRecord.from_job(spec, result, attempt=attempt, started_at=started, ended_at=time.time()))
    summary = {"setting": spec.setting, "arch_id": code.arch_id, "seed": seed, "attempt": attempt,
               "metrics": dict(result.metrics), "synthetic_data": result.info.get("synthetic_data"),
               "wall_seconds": round(result.wall_seconds, 1), "committed": uri}
    print(json.dumps(summary), flush=True)
    return 0


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        status = run(cfg)
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    if status:
        raise SystemExit(status)


if __name__ == "__main__":
    main()
