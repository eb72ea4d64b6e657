"""Train ONE job (architecture, setting, seed) without Ray, and commit its result to the store.

    python launch/train.py task=cls_a code=<official code string> store=/path/to/store
    python launch/train.py task=seg code=... store=... data=toy              # smoke recipe, generated data
    python launch/train.py task=video_p code=... store=...                   # finds the cls_a checkpoint in the store
    python launch/train.py task=cls_a code=... store=... task.optim.lr=0.05 variant=lr005   # a deliberate variant

Any recipe value is overridable (``task.<section>.<key>=...``); an unknown key is an error. The
job resumes from its own newest checkpoint in ``<work_root>/<setting>/<arch_id>/s<seed>-<identity>``,
so rerunning a killed command continues it. Exit status (bench/cli.py): 0 succeeded (or already
done), 1 the job failed (recorded in the store), 2 bad input (nothing recorded), 130 interrupted.
See docs/training.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bench.cli import hydra_main
from bench.training import train_one
from tasks import recipe_type_of


def body(cfg) -> int:
    from tasks import TASKS

    return train_one(cfg, TASKS)


main = hydra_main("train", body, recipe_type_of)

if __name__ == "__main__":
    main()
