"""Build the benchmark: train a selection of architectures on one setting, on Ray, into the store.

    python launch/run.py task=cls_a sweep=smoke          # embedded Ray, tiny data, CPU, minutes
    python launch/run.py task=seg sweep=full launcher=cluster store=/shared/nbmr data.root=/shared/data
    python launch/run.py -m task=cls_a,video_p sweep=full   # several settings, one after the other
    python launch/run.py task=seg sweep=retry_failed        # rerun what failed, with its last errors

Rerunning a command resumes it: the store says what is done. See docs/cluster.md.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bench.errors import BenchError
from bench.sched.config import build_run
from bench.sched.sweep import execute

if not OmegaConf.has_resolver("tempdir"):
    OmegaConf.register_new_resolver("tempdir", tempfile.gettempdir)


@hydra.main(config_path="../conf", config_name="run", version_base="1.3")
def main(cfg: DictConfig) -> None:
    if OmegaConf.select(cfg, "data.kind") == "toy":
        from tasks.toydata import SYNTHETIC_BANNER

        print(SYNTHETIC_BANNER, flush=True)  # said by the driver too: job output goes to per-job logs
    try:
        progress = execute(build_run(cfg))
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print(
            "interrupted: everything finished is in the store; rerun the same command to resume",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(130) from None
    if progress.failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
