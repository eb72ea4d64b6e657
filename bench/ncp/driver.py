"""The search command's body: :class:`SearchOptions` (parsed once) -> files in ``out`` and lines for the user.

The tables are passed in (``load_frame(setting, data) -> DataFrame``, ``data`` a store view:
``"benchmark"`` for measured-else-imported rows, ``"imported"`` for the published table only)
so the launcher reads the store and tests can hand in synthetic tables. ``say``
receives the progress and summary lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from bench.code import ArchCode
from bench.errors import BenchError
from bench.ncp.baselines import random_codes
from bench.ncp.data import SettingTable
from bench.ncp.encoding import NB201_ENCODING, encoding_for
from bench.ncp.jsonio import write_json
from bench.ncp.nb201 import check_nb201_options
from bench.ncp.options import SearchOptions
from bench.ncp.predictor import Predictor, PredictorConfig, make_split, targets, train_predictor
from bench.ncp.recipe import PredictorRecipe, overrides_of
from bench.ncp.results import mr_result, nb201_result, predictor_document, refresh_nb201_truth, refresh_truth
from bench.ncp.search import check_weights, parse_starts, search_mr, search_nb201
from bench.ncp.summary import Say, mr_summary, nb201_summary, predictor_table
from bench.ncp.trajectory import plot_trajectory, trajectory_table, write_trajectory
from bench.settings import get_setting
from bench.userfiles import check_output_dir

DEFAULT_SETTINGS = {"nasbench_mr": ("seg",), "nb201": ("nb201",)}
CODES_FILE = "found_codes.txt"


class FrameLoader(Protocol):
    def __call__(self, setting: str, data: str = "benchmark") -> pd.DataFrame: ...


def resolve_settings(options: SearchOptions) -> tuple[str, ...]:
    """``predictor.settings`` (or the space's default), validated against the space."""
    space, chosen = options.space, options.predictor.settings
    if chosen is not None and not chosen:
        raise BenchError(f"predictor.settings={list(chosen)!r} is empty; list at least one setting (e.g. [seg]) or leave it "
                         f"unset for the default {list(DEFAULT_SETTINGS[space])}")
    settings = tuple(chosen) if isinstance(chosen, tuple) else ((chosen,) if chosen else DEFAULT_SETTINGS[space])
    settings = tuple(get_setting(str(s)).name for s in settings)
    if len(set(settings)) != len(settings):
        raise BenchError(f"predictor.settings={list(settings)} repeats a setting; list each once")
    if space == "nb201" and settings != ("nb201",):
        raise BenchError(f"space=nb201 searches the nb201 table only; predictor.settings={list(settings)} (use [nb201] or leave it unset)")
    if space == "nasbench_mr" and "nb201" in settings:
        raise BenchError("setting 'nb201' is a different search space; run it with space=nb201")
    return settings


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
            try:
                setting = get_setting(start[len("best:"):]).name
            except BenchError as err:
                raise BenchError(f"init={start!r}: {err}") from None
            table = SettingTable.from_frame(load_frame(setting), setting)
            truth = table.metrics[table.main_metric]
            if not np.isfinite(truth).any():
                raise BenchError(f"init={start!r}: setting {setting!r} has no measured {table.main_metric!r}")
            start = table.codes[int(np.nanargmax(truth))]
        out.append(start)
    return tuple(out)


def get_predictor(table: SettingTable, options: SearchOptions, out: Path, say: Say) -> Predictor:
    """Load from ``predictor.load_dir`` or train (and save under ``out/predictors``), telling the user."""
    load_dir = options.predictor.load_dir
    if load_dir:
        predictor = Predictor.load(load_dir, table.setting)
        if predictor.space != table.space:
            raise BenchError(f"saved predictor {table.setting!r} in {load_dir} is for space {predictor.space!r}, not {table.space!r}")
        _check_loaded(predictor, options.predictor.config(table.space), load_dir, table)
        say(f"{table.setting}: loaded the {predictor.recipe.name!r} predictor from {load_dir}")
        return predictor
    config = options.predictor.config(table.space)
    recipe = config.recipe.for_space(table.space)
    changed = overrides_of(recipe)
    say(f"{table.setting}: training the {recipe.name!r} predictor{f' with {changed}' if changed else ''} "
        f"({recipe.members} x {recipe.epochs} epochs, split {config.split}) on the {len(table)} rows of the table ...")
    predictor = train_predictor(table, None, config, progress=say)
    main = predictor.metrics[0]
    r = predictor.report[main]
    paper = get_setting(table.setting).paper_predictor_mae
    say(f"{table.setting}: validation {main} MAE {r['mae']:.3f} (best epoch {r['mae_best_epoch']:.3f}), "
        f"Kendall tau {r['kendall_tau']:.3f}{f'; the paper reports {paper}' if paper is not None else ''}")
    predictor.save(out / "predictors")
    return predictor


def _check_loaded(predictor: Predictor, config: PredictorConfig, load_dir: str, table: SettingTable) -> None:
    """A predictor from ``predictor.load_dir`` must be the one the request describes (recipe, split and its
    sizes when given, seed), trained on rows of this table: otherwise the search would silently run on another
    predictor than the one asked for, and report validation rows the store does not hold."""
    asked = {"recipe": _describe_recipe(config.recipe.for_space(predictor.space)), "split": config.split, "seed": config.seed}
    saved = {"recipe": _describe_recipe(predictor.recipe), "split": predictor.split.kind, "seed": predictor.seed}
    if config.n_train is not None or config.n_val is not None:
        usable = np.isfinite(targets(table, predictor.metrics)).any(1)
        split = make_split(table, usable, config)
        asked["split sizes"] = f"{len(split.train_ids)} / {len(split.val_ids)}"
        saved["split sizes"] = f"{len(predictor.split.train_ids)} / {len(predictor.split.val_ids)}"
    differ = [k for k in asked if asked[k] != saved[k]]
    if differ:
        raise BenchError(
            f"predictor.load_dir={load_dir!r} holds {predictor.setting}'s predictor with "
            f"{', '.join(f'{k} {saved[k]}' for k in differ)}, but this request asks for "
            f"{', '.join(f'{k} {asked[k]}' for k in differ)}; request the saved {' and '.join(differ)} "
            "(predictor.recipe and its overrides, predictor.split, predictor.n_train / n_val, predictor.seed), "
            "or leave out predictor.load_dir to train the one asked for"
        )
    ids = (*predictor.split.train_ids, *predictor.split.val_ids)
    absent = len(set(ids) - set(map(str, table.arch_ids)))
    if absent:
        raise BenchError(
            f"predictor.load_dir={load_dir!r} holds {predictor.setting}'s predictor trained and validated on "
            f"{len(ids)} architectures, {absent} of which this store's {predictor.setting} table ({len(table)} rows) "
            "does not hold: it was trained on another table; leave out predictor.load_dir to train on this one"
        )


def _describe_recipe(recipe: PredictorRecipe) -> str:
    """A recipe as its name and the fields it overrides, e.g. ``'default' with {'members': 2}``."""
    changed = overrides_of(recipe)
    return f"{recipe.name!r}{f' with {changed}' if changed else ''}"


def _check_request(options: SearchOptions, settings: tuple[str, ...]) -> None:
    """Everything a request can get wrong that is known before a table is read or a predictor trained."""
    check_output_dir("out", options.out)
    if options.space == "nb201":
        if options.strategy != "continuous":
            raise BenchError(f"strategy={options.strategy!r} applies to nasbench_mr only; space=nb201 runs continuous propagation")
        if options.init is not None:
            raise BenchError(f"init={options.init!r} applies to nasbench_mr only; space=nb201 starts from the uniform mixture")
        nb = options.nb201
        check_nb201_options(nb.iterations, nb.step_size, nb.readout_every, nb.projection)
    elif options.mode == "search":
        check_weights(options.predictor.weights, len(settings))


def write_code_list(path: Path, codes: list[str], header: str) -> Path:
    """Official code strings, one per line, no repeats, ``#`` header: ``sweep=file sweep.codes_file=`` reads it."""
    unique = list(dict.fromkeys(codes))
    path.write_text("".join(f"# {line}\n" for line in header.splitlines()) + "".join(f"{c}\n" for c in unique))
    return path


def run(options: SearchOptions, load_frame: FrameLoader, say: Say = lambda line: None) -> dict[str, Any]:
    """Run the command described by ``options``; returns the document written."""
    if options.mode == "evaluate":
        return evaluate(options, load_frame, say)
    settings = resolve_settings(options)
    _check_request(options, settings)
    out = Path(options.out)
    request = None
    if options.mode == "search" and options.space == "nasbench_mr":
        request = options.request(resolve_starts(options.starts, load_frame, options.seed))
        parse_starts(request.starts)  # a bad start code fails now, before any predictor is trained
    view = "imported" if options.predictor.split == "authors" else "benchmark"  # the authors' split is of the published rows
    tables = [SettingTable.from_frame(load_frame(s, view), s) for s in settings]
    predictors = [get_predictor(t, options, out, say) for t in tables]
    out.mkdir(parents=True, exist_ok=True)  # only now: a refused request leaves no empty folder behind

    if options.mode == "predictor_report":
        document = predictor_document(predictors)
        write_json(out / "predictor.json", document)
        for line in predictor_table(document):
            say(line)
        return document

    if request is None:  # NAS-Bench-201
        lam, nb = options.lam_value, options.nb201
        found = search_nb201(predictors[0], lam, nb.iterations, nb.step_size, nb.readout_every, nb.projection)
        result = nb201_result(found, predictors[0], tables[0], lam)
        heads = ["nb201_Acc", "nb201_gflops"]
        write_trajectory(trajectory_table(found.propagation, NB201_ENCODING, heads), out / "trajectory.parquet")
        plot_trajectory(found.propagation, NB201_ENCODING, heads, 0, out / "trajectory.png",
                        f"NAS-Bench-201, lambda={lam}: found ops {result['code']}", flops_head="nb201_gflops")
        result["trajectory"] = {"parquet": "trajectory.parquet", "png": "trajectory.png", "start": 0}
        write_json(out / "result.json", result)
        for line in nb201_summary(result, str(out)):
            say(line)
        return result

    outcome = search_mr(predictors, request)
    result = mr_result(outcome, request, predictors, tables)
    if outcome.propagation is not None:
        heads = [f"{s}_{get_setting(s).main_metric}" for s in settings]
        encoding = encoding_for(options.space)
        write_trajectory(trajectory_table(outcome.propagation, encoding, heads), out / "trajectory.parquet")
        best_start = int(outcome.start_index[0])
        plot_trajectory(outcome.propagation, encoding, heads, best_start, out / "trajectory.png",
                        f"{request.strategy} on {'+'.join(settings)}, lambda={request.lam}: {result['code']}")
        result["trajectory"] = {"parquet": "trajectory.parquet", "png": "trajectory.png", "start": best_start}
    else:
        result["trajectory"] = None  # sampling and greedy baselines have no propagation trajectory
    write_code_list(out / CODES_FILE, [c["code"] for c in result["candidates"]],
                    f"codes found by NCP ({request.strategy}, lambda {request.lam}) on {', '.join(settings)}; best first\n"
                    f"train them: python launch/run.py task=SETTING store={options.store} sweep=file "
                    f"sweep.codes_file={out / CODES_FILE}")
    result["codes_file"] = CODES_FILE
    write_json(out / "result.json", result)
    for line in mr_summary(result, str(out), options.store):
        say(line)
    return result


def evaluate(options: SearchOptions, load_frame: FrameLoader, say: Say) -> dict[str, Any]:
    """``mode=evaluate``: redo the store's view of ``out/result.json`` on the (later) store; rewrite it."""
    path = Path(options.out) / "result.json"
    if not path.exists():
        raise BenchError(f"mode=evaluate reads {path}, which does not exist; run a search with out={options.out} first")
    result = json.loads(path.read_text())
    settings = result.get("settings") or (["nb201"] if result.get("space") == "nb201" else None)
    if not settings or "code" not in result:
        raise BenchError(f"{path} is not a search result (it lacks 'code' / 'settings'); mode=evaluate reads what a search wrote")
    tables = [SettingTable.from_frame(load_frame(s), s) for s in settings]
    if result.get("space") == "nb201":
        refresh_nb201_truth(result, tables[0])
        lines = nb201_summary(result, options.out)
    else:
        refresh_truth(result, tables)
        lines = mr_summary(result, options.out, options.store)
    candidates = [c["code"] for c in result.get("candidates", [])]
    measured = [c["code"] for c in result.get("candidates", []) if c.get("true", c.get("true_Acc")) is not None]
    say(f"evaluated {path} against the store: {len(measured)} of {len(candidates)} found codes "
        f"are measured{': ' + ', '.join(measured) if measured else ''}")
    toy = [] if result.get("space") == "nb201" else _generated_only(
        [c for c in candidates if c not in measured], settings, load_frame)
    if toy:
        say(f"  {len(toy)} more {'was' if len(toy) == 1 else 'were'} trained on generated (toy) data only: not benchmark "
            f"values, so nothing is filled in for {', '.join(toy)}")
    write_json(path, result)
    for line in lines:
        say(line)
    return result


def _generated_only(codes: list[str], settings: list[str], load_frame: FrameLoader) -> list[str]:
    """Those of ``codes`` that the store measured on generated data (its ``synthetic`` view) in every setting."""
    found: set[str] | None = None
    for setting in settings:
        frame = load_frame(setting, "synthetic")
        main = get_setting(setting).main_metric
        have = set(frame["code"][frame[main].notna()]) if len(frame) and main in frame else set()
        found = have if found is None else found & have
    return [c for c in codes if c in (found or set())]
