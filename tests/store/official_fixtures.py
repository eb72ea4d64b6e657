"""Small published-style pickles generated from real codes and made-up metrics (no shared data needed)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from bench.cost import cost
from bench.settings import get_setting
from bench.space import sample_codes

N_ROWS = 30


def mr_rows(setting: str, n: int = N_ROWS, seed: int = 3) -> list[dict]:
    """Rows in the authors' layout: metrics first, then flops, params and the code's two forms."""
    rng = np.random.default_rng(seed)
    names = ("easy", "moderate", "hard", "pedestrian_3d_moderate") if setting == "det3d" else get_setting(setting).metrics
    rows = []
    for code in sample_codes(n=n, seed=seed):
        c = cost(code)
        row = {name: float(np.round(rng.uniform(10, 90), 3)) for name in names}
        row.update({"flops": c.gflops, "params": c.params_m})
        code_row = code.to_row()
        row.update({k: code_row[k] for k in ("input_channel", "inverted_residual_setting", "last_channel", "embedding")})
        rows.append(row)
    return rows


def nb201_rows(n: int = N_ROWS, seed: int = 5) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows, seen = [], set()
    while len(rows) < n:
        ops = tuple(rng.integers(0, 5, size=6).tolist())
        if ops in seen:
            continue
        seen.add(ops)
        onehot = np.zeros(30, dtype=np.float32)
        onehot[[5 * e + op for e, op in enumerate(ops)]] = 1.0
        rows.append({"embedding": onehot, "Acc": float(rng.uniform(0, 47)), "Flops": float(rng.uniform(7, 200)),
                     "Params": float(rng.uniform(0.07, 1.5))})
    return rows


def write_published_dir(root: Path, settings: tuple[str, ...], nested: tuple[str, ...] = ()) -> dict[str, Path]:
    """Write ``<name>.pkl`` (or ``<name>/trainval.pkl`` for settings in ``nested``) and ``nb201_test.pkl``."""
    root.mkdir(parents=True, exist_ok=True)
    paths = {}
    for setting in settings:
        name = get_setting(setting).official_name
        path = root / name / "trainval.pkl" if setting in nested else root / f"{name}.pkl"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(pickle.dumps(mr_rows(setting)))
        paths[setting] = path
    paths["nb201"] = root / "nb201_test.pkl"
    paths["nb201"].write_bytes(pickle.dumps(nb201_rows()))
    return paths
