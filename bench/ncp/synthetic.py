"""Made-up setting tables with a smooth, known metric: for tests and smoke runs.

They are shaped exactly like the store's ``load_setting`` tables, so the whole
search path (training, propagation, reporting) runs without the published
data. The metric rises with log-FLOPs and with the deepest stage's width, so
search has a real accuracy/FLOPs trade-off to find.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from bench import nb201
from bench.code import FIELD_NAMES
from bench.cost import cost_batch
from bench.ncp.data import SettingTable
from bench.ncp.encoding import codes_to_array
from bench.ncp.flops_poly import FlopsPolynomial
from bench.ncp.objective import Head, SearchObjective
from bench.ncp.predictor import Predictor, PredictorConfig, train_predictor
from bench.ncp.recipe import recipe_named
from bench.settings import get_setting
from bench.space import sample_codes


def synthetic_metric(x: np.ndarray, gflops: np.ndarray) -> np.ndarray:
    """The made-up main metric of raw codes (N, 27): smooth in the code, saturating in FLOPs."""
    fields = {name: x[:, i].astype(np.float64) for i, name in enumerate(FIELD_NAMES)}
    wide_last_stage = sum(fields[f"c4_{k}"] for k in range(1, 5)) / (4 * 128)
    return 55.0 + 6.0 * np.log1p(gflops) + 4.0 * wide_last_stage + 0.5 * fields["n1_1"]


def synthetic_frame(n: int = 500, seed: int = 0, setting: str = "cls_a", noise: float = 0.3) -> pd.DataFrame:
    """``n`` sampled codes with made-up metrics for ``setting`` (store-shaped columns).

    Example:
        >>> frame = synthetic_frame(5)
        >>> list(frame.columns[:3]), len(frame)
        (['arch_id', 'code', 'i1'], 5)
    """
    metric_names = get_setting(setting).metrics
    codes = sample_codes(n, seed=seed)
    x = codes_to_array(codes)
    params, flops = cost_batch(x)
    gflops = flops / 1e9
    rng = np.random.default_rng(seed)
    main = synthetic_metric(x, gflops) + rng.normal(0.0, noise, n)
    frame = pd.DataFrame({"arch_id": [c.arch_id for c in codes], "code": [c.to_string() for c in codes]})
    for i, name in enumerate(FIELD_NAMES):
        frame[name] = x[:, i]
    frame["params_m"] = params / 1e6
    frame["gflops"] = gflops
    for k, metric in enumerate(metric_names):
        frame[metric] = main + 3.0 * k + rng.normal(0.0, noise, n)  # secondary metrics track the main one
    return frame


def synthetic_nb201_frame(n: int = 500, seed: int = 0, noise: float = 0.2) -> pd.DataFrame:
    """``n`` distinct random NAS-Bench-201-like one-hot codes; Acc and Flops additive over edges."""
    rng = np.random.default_rng(seed)
    index = rng.choice(nb201.NUM_OPS**nb201.EDGES, size=n, replace=False)  # distinct, like the real table
    ops = (index[:, None] // nb201.NUM_OPS ** np.arange(nb201.EDGES)) % nb201.NUM_OPS
    onehot = np.eye(nb201.NUM_OPS, dtype=np.float32)[ops].reshape(n, -1)
    op_acc = np.array([-4.0, 0.5, 1.5, 3.0, 0.0])  # the most expensive op is the most accurate
    op_flops = np.array([0.0, 0.0, 4.0, 30.0, 1.0])
    acc = 30.0 + op_acc[ops].sum(1) + rng.normal(0.0, noise, n)
    flops = 8.0 + op_flops[ops].sum(1)
    return pd.DataFrame({"embedding": list(onehot), "Acc": acc, "gflops": flops / 1e3, "mflops": flops, "params_m": flops / 100.0})


def tiny_config(epochs: int = 20, members: int = 2, seed: int = 0, recipe: str = "default", **sizes: int) -> PredictorConfig:
    """A fast :class:`PredictorConfig` for small synthetic tables (few epochs and members; 320 / 80 rows)."""
    split = {"n_train": 320, "n_val": 80, **sizes}
    return PredictorConfig(recipe_named(recipe, {"epochs": epochs, "members": members}), seed=seed, **split)


@lru_cache(maxsize=4)
def tiny_predictor(setting: str = "cls_a", epochs: int = 20, seed: int = 0) -> Predictor:
    """A quickly trained predictor (default recipe, 2 members) on a small synthetic table (examples, smoke tests)."""
    table = SettingTable.from_frame(synthetic_frame(400, seed=seed, setting=setting), setting)
    return train_predictor(table, config=tiny_config(epochs, seed=seed))


def tiny_objective(lam: float = 0.5) -> SearchObjective:
    """A NAS-Bench-MR search objective on :func:`tiny_predictor` with exact FLOPs."""
    predictor = tiny_predictor()
    return SearchObjective([Head(predictor, predictor.metrics[0], 1.0)], lam, FlopsPolynomial.build())


@lru_cache(maxsize=2)
def tiny_nb201_predictor(seed: int = 0) -> Predictor:
    """A quickly trained NAS-Bench-201 predictor (Acc and the cost targets) on a synthetic table."""
    table = SettingTable.from_frame(synthetic_nb201_frame(400, seed=seed), "nb201")
    return train_predictor(table, config=tiny_config(20, seed=seed))


def tiny_nb201_objective(lam: float = 0.2) -> SearchObjective:
    """The NAS-Bench-201 objective (Acc up, predicted FLOPs down) on :func:`tiny_nb201_predictor`."""
    predictor = tiny_nb201_predictor()
    return SearchObjective([Head(predictor, "Acc", 1.0), Head(predictor, "gflops", -lam)], 0.0, None)
