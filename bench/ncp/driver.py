"""The search command's body: config (a plain dict, as composed from conf/search.yaml) -> files in ``out``.

The table source is passed in (``load_frame(setting) -> DataFrame``) so the
launcher reads the store and tests can hand in synthetic tables.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from bench.code import ArchCode
from bench.errors import BenchError
from bench.ncp.baselines import random_codes
from bench.ncp.data import SettingTable
from bench.ncp.encoding import NB201_ENCODING, encoding_for
from bench.ncp.predictor import Predictor, PredictorConfig, train_predictor
from bench.ncp.results import mr_result, nb201_result
from bench.ncp.search import SearchRequest, as_jsonable, parse_starts, search_mr, search_nb201
from bench.ncp.trajectory import plot_trajectory, trajectory_table, write_trajectory
from bench.settings import get_setting

MODES = ("search", "predictor_report")
SPACES = ("nasbench_mr", "nb201")
DEFAULT_SETTINGS = {"nasbench_mr": ["seg"], "nb201": ["nb201"]}
DEFAULT_LAMBDA = {"nasbench_mr": 0.5, "nb201": 0.2}
"""lambda when the config leaves it null: 0.5 as in the paper's examples; on NAS-Bench-201 0.2 lands at the
paper's operating point (~90 MFLOPs), since there the FLOPs term is the predictor's learned, steeper output."""

FrameLoader = Callable[[str], pd.DataFrame]


def _choice(cfg: Mapping[str, Any], key: str, valid: tuple[str, ...]) -> str:
    value = cfg.get(key)
    if value not in valid:
        raise BenchError(f"{key}={value!r} is invalid; valid values are {list(valid)}")
    return value


def _settings(cfg: Mapping[str, Any], space: str) -> list[str]:
    settings = cfg["predictor"].get("settings") or DEFAULT_SETTINGS[space]
    if isinstance(settings, str):
        settings = [settings]
    settings = [get_setting(str(s)).name for s in settings]
    if len(set(settings)) != len(settings):
        raise BenchError(f"predictor.settings={settings} repeats a setting; list each once")
    if space == "nb201" and settings != ["nb201"]:
        raise BenchError(f"space=nb201 searches the nb201 table only; predictor.settings={settings} (use [nb201] or leave it unset)")
    if space == "nasbench_mr" and "nb201" in settings:
        raise BenchError("setting 'nb201' is a different search space; run it with space=nb201")
    return settings


def predictor_config(cfg: Mapping[str, Any]) -> PredictorConfig:
    """The ``predictor`` group as a :class:`PredictorConfig`."""
    p = cfg["predictor"]
    return PredictorConfig(
        hidden=int(p["hidden"]), branch=int(p["branch"]), dropout=float(p["dropout"]), epochs=int(p["epochs"]),
        batch_size=int(p["batch_size"]), lr=float(p["lr"]), weight_decay=float(p["weight_decay"]),
        n_train=int(p["n_train"]), n_val=int(p["n_val"]), seed=int(p["seed"]), min_rows=int(p["min_rows"]),
    )


def get_predictor(table: SettingTable, cfg: Mapping[str, Any], out: Path) -> Predictor:
    """Load from ``predictor.load_dir`` or train (and save under ``out/predictors``)."""
    load_dir = cfg["predictor"].get("load_dir")
    if load_dir:
        predictor = Predictor.load(load_dir, table.setting)
        if predictor.space != table.space:
            raise BenchError(f"saved predictor {table.setting!r} in {load_dir} is for space {predictor.space!r}, not {table.space!r}")
        return predictor
    metrics = ("Acc", "gflops") if table.space == "nb201" else None  # NB201's FLOPs term is learned (no closed form)
    predictor = train_predictor(table, metrics, predictor_config(cfg))
    predictor.save(out / "predictors")
    return predictor


def _starts(init: Any) -> tuple[str, ...]:
    if init is None:
        return ()
    if isinstance(init, str):
        return (init,)
    if isinstance(init, (list, tuple)) and init:
        return tuple(str(s) for s in init)
    if isinstance(init, (int, float)):  # Hydra reads 1_2_3 as the number 123
        raise BenchError(f"init={init!r} was read as a number, not a code string; quote it, e.g. init='\"64_64-2_1_2_64-...\"'")
    raise BenchError(f"init={init!r} is invalid; valid is null, an official code string, or a non-empty list of them")


def _write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(as_jsonable(document), indent=2, allow_nan=False))
    return path


def resolve_starts(starts: tuple[str, ...], load_frame: FrameLoader, seed: int) -> tuple[str, ...]:
    """Expand ``best:<setting>`` (that setting's best measured code: the paper's transfer start) and
    ``random:<n>`` (n uniform random codes, seeded) into official code strings."""
    out: list[str] = []
    for start in starts:
        if start.startswith("random:"):
            count = start[len("random:"):]
            if not count.isdigit() or int(count) < 1:
                raise BenchError(f"init={start!r} is invalid; random:<n> needs an integer n >= 1")
            out += [ArchCode.from_list(row.tolist()).to_string() for row in random_codes(int(count), seed)]
            continue
        if start.startswith("best:"):
            setting = get_setting(start[len("best:"):]).name
            table = SettingTable.from_frame(load_frame(setting), setting)
            truth = table.metrics[table.main_metric]
            if not np.isfinite(truth).any():
                raise BenchError(f"init={start!r}: setting {setting!r} has no measured {table.main_metric!r}")
            start = table.codes[int(np.nanargmax(truth))]
        out.append(start)
    return tuple(out)


def _request(cfg: Mapping[str, Any], lam: float, load_frame: FrameLoader) -> SearchRequest:
    weights = cfg["predictor"].get("weights")
    request = SearchRequest(
        strategy=str(cfg["strategy"]), lam=lam, weights=tuple(float(w) for w in weights) if weights else None,
        iterations=int(cfg["propagation"]["iterations"]), step_size=float(cfg["propagation"]["step_size"]),
        starts=resolve_starts(_starts(cfg.get("init")), load_frame, int(cfg["seed"])), random_samples=int(cfg["baseline"]["random_samples"]),
        neural_samples=int(cfg["baseline"]["neural_samples"]), top_k=int(cfg["baseline"]["top_k"]),
        seed=int(cfg["seed"]),
    )
    parse_starts(request.starts)  # a bad start code fails now, before any predictor is trained
    return request


def run(cfg: Mapping[str, Any], load_frame: FrameLoader) -> dict[str, Any]:
    """Run the command described by ``cfg``; returns the document written (result or predictor report)."""
    mode = _choice(cfg, "mode", MODES)
    space = _choice(cfg, "space", SPACES)
    settings = _settings(cfg, space)
    lam = float(cfg["lambda"]) if cfg.get("lambda") is not None else DEFAULT_LAMBDA[space]
    request = _request(cfg, lam, load_frame) if mode == "search" and space == "nasbench_mr" else None
    if space == "nb201" and (cfg.get("strategy") != "continuous" or cfg.get("init") is not None):
        raise BenchError(f"space=nb201 runs continuous propagation from the uniform mixture; "
                         f"strategy={cfg.get('strategy')!r} / init={cfg.get('init')!r} apply to nasbench_mr only")
    out = Path(str(cfg["out"]))
    out.mkdir(parents=True, exist_ok=True)
    tables = [SettingTable.from_frame(load_frame(s), s) for s in settings]
    predictors = [get_predictor(t, cfg, out) for t in tables]

    if mode == "predictor_report":
        report = {p.setting: {m: {k: r[k] for k in ("mae", "kendall_tau", "spearman_rho")} for m, r in p.report.items()}
                  for p in predictors}
        _write_json(out / "predictor.json", report)
        return report

    if request is None:  # NAS-Bench-201
        nb = cfg["nb201"]
        found, propagation, seconds = search_nb201(predictors[0], lam, int(nb["iterations"]), float(nb["step_size"]),
                                                  int(nb["argmax_every"]))
        result = nb201_result(found, predictors[0], tables[0], lam, seconds, int(nb["iterations"]))
        heads = ["nb201_Acc", "nb201_gflops"]
        write_trajectory(trajectory_table(propagation, NB201_ENCODING, heads), out / "trajectory.parquet")
        plot_trajectory(propagation, NB201_ENCODING, heads, 0, out / "trajectory.png",
                        f"NAS-Bench-201, lambda={lam}: found ops {result['ops']}", flops_head="nb201_gflops")
        _write_json(out / "result.json", result)
        return result

    outcome = search_mr(predictors, request)
    result = mr_result(outcome, request, predictors, tables)
    if outcome.propagation is not None:
        heads = [f"{s}_{get_setting(s).main_metric}" for s in settings]
        encoding = encoding_for(space)
        write_trajectory(trajectory_table(outcome.propagation, encoding, heads), out / "trajectory.parquet")
        best_start = int(outcome.start_index[0])
        plot_trajectory(outcome.propagation, encoding, heads, best_start, out / "trajectory.png",
                        f"{request.strategy} on {'+'.join(settings)}, lambda={lam}: {result['code']}")
        result["trajectory"] = {"parquet": "trajectory.parquet", "png": "trajectory.png", "start": best_start}
    else:
        result["trajectory"] = None  # sampling and greedy baselines have no propagation trajectory
    _write_json(out / "result.json", result)
    return result
