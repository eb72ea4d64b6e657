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
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import pandas as pd
import torch
from omegaconf import DictConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bench.config import resolve  # noqa: E402
from bench.errors import BenchError  # noqa: E402
from bench.ncp.driver import run  # noqa: E402
from bench.ncp.options import parse_options  # noqa: E402
from bench.store import Store  # noqa: E402


def store_frames(uri: str):
    """``(setting, source) -> DataFrame`` reading the store at ``uri`` (which must exist)."""
    store = Store.open(uri, create=False)
    available = store.settings()

    def load(setting: str, source: str | None = None) -> pd.DataFrame:
        if setting not in available:
            raise BenchError(f"setting {setting!r} is not in the store {uri!r}; it holds {available}")
        return store.load_setting(setting, source=source).to_pandas()

    return load


def say(line: str) -> None:
    print(line, flush=True)


@hydra.main(config_path="../conf", config_name="search", version_base="1.3")
def main(cfg: DictConfig) -> None:
    torch.set_num_threads(1)  # tiny MLPs: threads cost more than they give, and the machine is shared
    try:
        options = parse_options(resolve(cfg))  # the one place config becomes typed objects
        run(options, store_frames(options.store), say)
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
