"""Baselines on the same predictors and the same objective ``J`` as NCP.

- random search: score ``n`` uniformly sampled codes, keep the top ``k``
  (the paper samples 100 and trains the top 10);
- neural predictor: the same with 10,000 samples (top 10);
- NetAdapt-style greedy: from a start code, try +/- one unit on every
  dimension, keep the best neighbour while it improves ``J``.

All rank by :meth:`SearchObjective.score` (predicted metrics, EXACT FLOPs), so
differences between methods are differences of search, not of scoring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.code import BLOCK_CHOICES, CHANNEL_CHOICES, CHANNEL_FIELDS, FIELD_NAMES
from bench.cost import cost_batch
from bench.errors import BenchError
from bench.ncp.objective import SearchObjective


@dataclass(frozen=True)
class Ranked:
    """Codes (K, 27) ordered best first, their scores ``J``, and how many codes were scored."""

    codes: np.ndarray
    scores: np.ndarray
    evaluated: int
    history: np.ndarray  # best score after each step (greedy) or the sorted scores (sampling)


def random_codes(n: int, seed: int) -> np.ndarray:
    """``n`` codes drawn uniformly from the space (may repeat), as an (n, 27) int array."""
    rng = np.random.default_rng(seed)
    is_channel = np.array([name in CHANNEL_FIELDS for name in FIELD_NAMES])
    channels = rng.choice(np.array(CHANNEL_CHOICES), size=(n, len(FIELD_NAMES)))
    blocks = rng.choice(np.array(BLOCK_CHOICES), size=(n, len(FIELD_NAMES)))
    return np.where(is_channel, channels, blocks).astype(np.int64)


def sample_and_rank(objective: SearchObjective, n_samples: int, top_k: int, seed: int) -> Ranked:
    """Random search / neural-predictor baseline: score ``n_samples`` random codes, keep the best ``top_k``.

    Example:
        >>> from bench.ncp.synthetic import tiny_objective
        >>> ranked = sample_and_rank(tiny_objective(), n_samples=50, top_k=3, seed=0)
        >>> ranked.codes.shape, bool(ranked.scores[0] >= ranked.scores[-1])
        ((3, 27), True)
    """
    if n_samples < 1 or not 1 <= top_k <= n_samples:
        raise BenchError(f"n_samples={n_samples!r}, top_k={top_k!r} invalid; need 1 <= top_k <= n_samples")
    if objective.flops_poly is None:
        raise BenchError("the sampling baselines are defined for the nasbench_mr space")
    codes = random_codes(n_samples, seed)
    scores = objective.score(codes)
    order = np.argsort(-scores, kind="stable")[:top_k]
    return Ranked(codes[order], scores[order], n_samples, scores[order])


def netadapt_greedy(objective: SearchObjective, start: np.ndarray, iterations: int = 70) -> Ranked:
    """Greedy +/- one unit on every dimension, best neighbour per step, until no neighbour improves ``J``.

    Example:
        >>> from bench.ncp.synthetic import tiny_objective
        >>> from bench.ncp.propagate import default_start
        >>> ranked = netadapt_greedy(tiny_objective(), default_start(1)[0], iterations=3)
        >>> bool(ranked.history[-1] >= ranked.history[0])
        True
    """
    if objective.flops_poly is None:
        raise BenchError("the NetAdapt baseline is defined for the nasbench_mr space")
    enc = objective.encoding
    x = np.asarray(start, dtype=np.int64).reshape(-1)
    unit = enc.unit.astype(np.int64)
    moves = np.concatenate([np.diag(unit), -np.diag(unit)])  # (2D, D)
    best = float(objective.score(x[None])[0])
    history, evaluated = [best], 1
    for _ in range(iterations):
        neighbours = x[None] + moves
        valid = ((neighbours >= enc.lo) & (neighbours <= enc.hi)).all(1)
        neighbours = neighbours[valid]
        scores = objective.score(neighbours, cost_batch(neighbours)[1] / 1e9)
        evaluated += len(neighbours)
        i = int(np.argmax(scores))
        if scores[i] <= best:
            break
        x, best = neighbours[i], float(scores[i])
        history.append(best)
    return Ranked(x[None], np.array([best]), evaluated, np.array(history))
