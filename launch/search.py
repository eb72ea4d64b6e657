"""Network Coding Propagation search over a results store (docs/search.md).

    python launch/search.py store=URI predictor.settings=[seg] strategy=continuous lambda=0.5 out=DIR
    python launch/search.py store=URI predictor.settings=[cls_a,seg] out=DIR             # multi-task
    python launch/search.py store=URI predictor.settings=[video] init=<code string> out=DIR  # transfer
    python launch/search.py store=URI mode=predictor_report predictor.settings=[video] out=DIR
    python launch/search.py store=URI space=nb201 out=DIR                               # NAS-Bench-201

Writes DIR/result.json (or DIR/predictor.json), DIR/trajectory.parquet, DIR/trajectory.png and the
trained predictors under DIR/predictors (reuse them with predictor.load_dir=DIR/predictors).
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bench.errors import BenchError  # noqa: E402
from bench.ncp.driver import run  # noqa: E402
from bench.store import Store  # noqa: E402


def store_frames(uri: str):
    """``setting -> DataFrame`` reading the store at ``uri`` (which must exist)."""
    store = Store.open(uri, create=False)
    available = store.settings()

    def load(setting: str) -> pd.DataFrame:
        if setting not in available:
            raise BenchError(f"setting {setting!r} is not in the store {uri!r}; it holds {available}")
        return store.load_setting(setting).to_pandas()

    return load


@hydra.main(config_path="../conf", config_name="search", version_base="1.3")
def main(cfg: DictConfig) -> None:
    torch.set_num_threads(1)  # tiny MLPs: threads cost more than they give, and the machine is shared
    try:
        plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
        document = run(plain, store_frames(str(cfg.store)))
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    except Exception as err:  # omegaconf's missing-value errors are user errors too
        if type(err).__name__ in ("MissingMandatoryValue", "InterpolationResolutionError"):
            print(f"error: {err}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None
        raise
    name = "predictor.json" if plain["mode"] == "predictor_report" else "result.json"
    summary = {k: document[k] for k in ("code", "gflops", "params_m") if k in document}
    print(f"wrote {Path(str(plain['out'])) / name} {summary}", flush=True)


if __name__ == "__main__":
    main()
