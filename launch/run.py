"""Build the benchmark: train a selection of architectures on one setting, on Ray, into the store.

    python launch/run.py task=cls_a sweep=smoke          # embedded Ray, tiny data, CPU, minutes
    python launch/run.py task=seg sweep=full launcher=cluster store=/shared/nbmr data.roots.cityscapes=/shared/cityscapes
    python launch/run.py -m task=cls_a,video_p sweep=full   # several settings, one after the other
    python launch/run.py task=seg sweep=retry_failed        # rerun what failed, with its last errors
    python launch/run.py task=seg sweep=full plan=true      # the cost plan: jobs, GPU-hours, disk; starts nothing

Rerunning a command resumes it: the store says what is done. Exit status (bench/cli.py): 0 every job
succeeded, 1 some failed (recorded), 2 bad input, 130 interrupted. See docs/cluster.md.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bench.cli import FAILED, hydra_main
from tasks import recipe_type_of

if not OmegaConf.has_resolver("tempdir"):
    OmegaConf.register_new_resolver("tempdir", tempfile.gettempdir)


def body(cfg) -> int:
    from bench.sched.config import build_plan, build_run, parse_run
    from tasks import TASKS

    top = parse_run(cfg)
    if top.plan:
        from bench.sched.plan import make_plan

        print(make_plan(build_plan(top, TASKS)).text(), flush=True)
        return 0
    from bench.sched.sweep import execute

    run = build_run(top, TASKS)
    if run.template.experiment.data.synthetic:
        from tasks.toydata import SYNTHETIC_BANNER

        print(SYNTHETIC_BANNER, flush=True)  # said by the driver too: job output goes to per-job logs
    progress = execute(run)
    return FAILED if progress.failed else 0


main = hydra_main("run", body, recipe_type_of)

if __name__ == "__main__":
    main()
