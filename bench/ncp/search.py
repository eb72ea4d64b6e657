"""One search request, end to end on plain objects: objective, strategy, found codes.

The launcher (``launch/search.py``) turns the Hydra config and the store into
:class:`SettingTable` and :class:`Predictor` objects and calls
:func:`search_mr` or :func:`search_nb201`; everything here works on arrays,
so tests run it on synthetic tables.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.code import ArchCode
from bench.cost import cost_batch
from bench.errors import BenchError, check_int
from bench.ncp.baselines import Ranked, netadapt_greedy, sample_and_rank
from bench.ncp.encoding import codes_to_array
from bench.ncp.flops_poly import FlopsPolynomial
from bench.ncp.nb201 import Nb201Search, propagate_nb201
from bench.ncp.objective import Head, SearchObjective
from bench.ncp.predictor import Predictor
from bench.ncp.propagate import Propagation, check_step_size, default_start, propagate_continuous, propagate_wta
from bench.settings import get_setting

STRATEGIES = ("continuous", "wta", "random", "neural_predictor", "netadapt")
"""NCP's two propagations, then the baselines on the same predictors."""


@dataclass(frozen=True)
class SearchRequest:
    """What to search for and how; defaults follow the paper."""

    strategy: str = "continuous"
    lam: float = 0.5
    weights: tuple[float, ...] | None = None  # per setting, equal when None
    iterations: int = 70
    step_size: float = 3.0
    starts: tuple[str, ...] = ()  # official code strings; empty: the paper's start
    random_samples: int = 100
    neural_samples: int = 10_000
    top_k: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise BenchError(f"unknown strategy {self.strategy!r}; valid strategies are {list(STRATEGIES)}")
        check_int("propagation.iterations", self.iterations, 0)
        for name in ("random_samples", "neural_samples", "top_k"):
            check_int(f"baseline.{name}", getattr(self, name), 1)
        for name, value in (("lambda", self.lam), *((f"predictor.weights[{i}]", w) for i, w in enumerate(self.weights or ()))):
            if not np.isfinite(value):
                raise BenchError(f"{name}={value!r} is invalid; valid is a finite number")
        check_step_size("propagation.step_size", self.step_size)


@dataclass(frozen=True)
class SearchOutcome:
    """Found codes (best first, by ``J`` with exact FLOPs) and how they were found."""

    found: np.ndarray  # (K, D) raw codes, best first
    scores: np.ndarray  # J of each
    start_index: np.ndarray  # for propagation: which start each found code came from
    propagation: Propagation | None
    ranked: Ranked | None
    seconds: float
    evaluated: int


def parse_starts(starts: Sequence[str]) -> np.ndarray:
    """Official code strings -> an (N, 27) array; a bad string is an error naming it."""
    codes = []
    for text in starts:
        try:
            codes.append(ArchCode.from_string(str(text)))
        except BenchError as err:
            raise BenchError(f"init={text!r} is not a valid start code: {err}") from None
    return codes_to_array(codes)


def check_weights(weights: Sequence[float] | None, n_settings: int) -> None:
    """``predictor.weights``: None (equal) or one non-negative weight per setting with a positive sum."""
    if weights is None:
        return
    if len(weights) != n_settings:
        raise BenchError(f"predictor.weights={list(weights)} gives {len(weights)} weights for {n_settings} settings; "
                         "give one weight per setting")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise BenchError(f"predictor.weights={list(weights)} is invalid; valid are non-negative weights with a positive sum")


def build_objective(predictors: Sequence[Predictor], weights: Sequence[float] | None, lam: float) -> SearchObjective:
    """The multi-task NAS-Bench-MR objective: each setting's main metric, weighted, plus exact FLOPs."""
    check_weights(weights, len(predictors))
    weights = [1.0] * len(predictors) if weights is None else weights
    heads = [Head(p, get_setting(p.setting).main_metric, float(w)) for p, w in zip(predictors, weights)]
    return SearchObjective(heads, lam, FlopsPolynomial.build())


def search_mr(predictors: Sequence[Predictor], request: SearchRequest) -> SearchOutcome:
    """Run one NAS-Bench-MR search (single- or multi-task, any strategy).

    Example:
        >>> from bench.ncp.synthetic import tiny_predictor
        >>> outcome = search_mr([tiny_predictor()], SearchRequest(iterations=10))
        >>> ArchCode.from_list(outcome.found[0].tolist()).stages[0].blocks in (1, 2, 3, 4)
        True
    """
    objective = build_objective(predictors, request.weights, request.lam)
    starts = parse_starts(request.starts) if request.starts else default_start(1)
    began = time.perf_counter()
    propagation, ranked = None, None
    if request.strategy in ("continuous", "wta"):
        if request.strategy == "continuous":
            propagation = propagate_continuous(objective, starts, request.iterations, request.step_size)
        else:
            propagation = propagate_wta(objective, starts, request.iterations)
        seconds = time.perf_counter() - began
        found = propagation.final.astype(np.int64)
        scores = objective.score(found)
        order = np.argsort(-scores, kind="stable")
        evaluated = len(starts) * (request.iterations + 1)
        return SearchOutcome(found[order], scores[order], order, propagation, None, seconds, evaluated)
    if request.strategy == "netadapt":
        runs = [netadapt_greedy(objective, start, request.iterations) for start in starts]
        ranked = Ranked(np.concatenate([r.codes for r in runs]), np.concatenate([r.scores for r in runs]),
                        sum(r.evaluated for r in runs), runs[0].history)
    else:
        n = request.random_samples if request.strategy == "random" else request.neural_samples
        ranked = sample_and_rank(objective, n, min(request.top_k, n), request.seed)
    seconds = time.perf_counter() - began
    order = np.argsort(-ranked.scores, kind="stable")
    return SearchOutcome(ranked.codes[order], ranked.scores[order], order, None, ranked, seconds, ranked.evaluated)


def exact_cost(x: np.ndarray) -> dict[str, float]:
    """Exact params (M) and GFLOPs of one raw NAS-Bench-MR code from the cost model."""
    params, flops = cost_batch(np.asarray(x, dtype=np.int64)[None])
    return {"params_m": float(params[0]) / 1e6, "gflops": float(flops[0]) / 1e9}


def nb201_objective(predictor: Predictor, lam: float) -> SearchObjective:
    """NAS-Bench-201: accuracy ascends, the predictor's learned FLOPs output descends with weight lambda."""
    for metric in ("Acc", "gflops"):
        predictor.metric_index(metric)
    return SearchObjective([Head(predictor, "Acc", 1.0), Head(predictor, "gflops", -float(lam))], 0.0, None)


def search_nb201(predictor: Predictor, lam: float, iterations: int = 60, step_size: float = 0.5,
                 readout_every: int = 1, projection: str = "straight_through") -> Nb201Search:
    """Continuous propagation on the 30-dim one-hot from the uniform mixture, projected to a cell by
    per-edge argmax, read out every ``readout_every`` iterations; the best read-out by ``J`` is the
    found cell (:func:`bench.ncp.nb201.propagate_nb201`)."""
    if not np.isfinite(lam) or lam < 0:
        raise BenchError(f"lambda={lam!r} is invalid; valid is a finite lambda >= 0")
    return propagate_nb201(nb201_objective(predictor, lam), iterations, step_size, readout_every, projection)


def as_jsonable(value: Any) -> Any:
    """numpy scalars/arrays -> plain Python, recursively (for json.dumps)."""
    if isinstance(value, dict):
        return {str(k): as_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return as_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
