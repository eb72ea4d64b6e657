"""Network Coding Propagation search over a results store (docs/search.md).

    python launch/search.py store=URI predictor.settings=[seg] strategy=continuous lambda=0.5 out=DIR
    python launch/search.py store=URI predictor.settings=[cls_a,seg] out=DIR             # multi-task
    python launch/search.py store=URI predictor.settings=[video] init=<code string> out=DIR  # transfer
    python launch/search.py store=URI mode=predictor_report predictor.settings=[video] predictor.split=authors out=DIR
    python launch/search.py store=URI space=nb201 out=DIR                               # NAS-Bench-201
    python launch/search.py store=URI mode=evaluate out=DIR        # a later store: true values of found codes

Writes DIR/result.json (or DIR/predictor.json), DIR/found_codes.txt (train them with launch/run.py
sweep=file sweep.codes_file=DIR/found_codes.txt), DIR/trajectory.parquet, DIR/trajectory.png and the
trained predictors under DIR/predictors (reuse them with predictor.load_dir=DIR/predictors).
Exit status (bench/cli.py): 0 done, 2 bad input (one line on stderr), 130 interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bench.cli import hydra_main


def store_frames(uri: str):
    """``(setting, data) -> DataFrame`` reading the store at ``uri`` (which must exist); ``data`` is a store view."""
    from bench.errors import BenchError
    from bench.store import Store

    store = Store.open(uri, create=False)
    available = store.settings()

    def load(setting: str, data: str = "benchmark"):
        if setting not in available:
            raise BenchError(f"setting {setting!r} is not in the store {uri!r}; it holds {available}")
        return store.load_setting(setting, data=data).to_pandas()

    return load


def say(line: str) -> None:
    print(line, flush=True)


def body(cfg) -> None:
    import torch

    from bench.config import resolve
    from bench.ncp.driver import run
    from bench.ncp.options import parse_options

    torch.set_num_threads(1)  # tiny MLPs: threads cost more than they give, and the machine is shared
    options = parse_options(resolve(cfg))  # the one place config becomes typed objects
    run(options, store_frames(options.store), say)


main = hydra_main("search", body)

if __name__ == "__main__":
    main()
