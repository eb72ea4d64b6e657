"""Network Coding Propagation: continuous and winner-takes-all, on a batch of codes.

Both take raw starting codes (N, D) and return a :class:`Propagation` with the
final codes and a trajectory. Every row of the batch is propagated
independently (the loss is a sum over rows), so 1,000 starting points cost
barely more than one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.code import CHANNEL_FIELDS, FIELD_NAMES
from bench.errors import BenchError, check_int
from bench.ncp.objective import SearchObjective

DEFAULT_START = {name: (64 if name in CHANNEL_FIELDS else 2) for name in FIELD_NAMES}
"""The paper's starting code: every b and n = 2, every i, c and o = 64."""


def default_start(n: int = 1) -> np.ndarray:
    """``n`` copies of the paper's starting code as a raw (n, 27) array."""
    return np.tile(np.array([DEFAULT_START[name] for name in FIELD_NAMES], dtype=np.int64), (n, 1))


@dataclass(frozen=True)
class Propagation:
    """Result of propagating N codes for T iterations.

    ``final`` is (N, D) raw values on the valid grid (ints for NAS-Bench-MR,
    one-hot for NAS-Bench-201). The trajectory has T + 1 entries (the start
    included): ``x`` (T+1, N, D) raw continuous values, ``predicted`` (T+1, N, S)
    head outputs in metric points, ``gflops`` (T+1, N) closed-form FLOPs of the
    continuous code (NaN where FLOPs come from a head). ``stopped`` (N,), for
    winner-takes-all only: the iteration at which each code became stationary
    (-1: still moving at the end).
    """

    final: np.ndarray
    x: np.ndarray
    predicted: np.ndarray
    gflops: np.ndarray
    stopped: np.ndarray | None = None


def _check_start(objective: SearchObjective, start: np.ndarray) -> np.ndarray:
    start = np.asarray(start, dtype=np.float64)
    enc = objective.encoding
    if start.ndim != 2 or start.shape[1] != enc.dim:
        raise BenchError(f"starting codes must be an (N, {enc.dim}) array for space {enc.space!r}, got shape {start.shape}")
    bad = np.argwhere((start < enc.lo) | (start > enc.hi))
    if len(bad):
        row, col = bad[0]
        raise BenchError(
            f"starting code {row} has {enc.names[col]}={start[row, col]:g} outside [{enc.lo[col]:g}, {enc.hi[col]:g}]"
        )
    return start


def check_step_size(name: str, value: float) -> None:
    """A propagation step size (standardised code units): finite and > 0, else an error naming ``name``."""
    if not np.isfinite(value) or value <= 0:
        raise BenchError(f"{name}={value!r} is invalid; valid is a finite number > 0")


def propagate_continuous(
    objective: SearchObjective,
    start: np.ndarray,
    iterations: int = 70,
    step_size: float = 3.0,
    record: bool = True,
) -> Propagation:
    """Gradient steps on ALL dimensions of the standardised code, clipped to the valid range,
    then rounded to the grid (channels to multiples of 8). NAS-Bench-201: :mod:`bench.ncp.nb201`.

    Example:
        >>> from bench.ncp.synthetic import tiny_objective
        >>> result = propagate_continuous(tiny_objective(), default_start(2), iterations=5)
        >>> result.final.shape, result.x.shape
        ((2, 27), (6, 2, 27))
    """
    check_int("propagation.iterations", iterations, 0)
    check_step_size("propagation.step_size", step_size)
    if objective.encoding.space != "nasbench_mr":
        raise BenchError(f"propagate_continuous rounds NAS-Bench-MR codes; for {objective.encoding.space!r} "
                         "use bench.ncp.nb201.propagate_nb201")
    start = _check_start(objective, start)
    enc, dtype = objective.encoding, objective.dtype
    lo, hi = enc.z_lo.astype(dtype), enc.z_hi.astype(dtype)
    step = dtype.type(step_size)
    z = enc.standardise(start).astype(dtype)
    n, s = len(z), len(objective.heads)
    zs = np.empty((iterations + 1, n, enc.dim), dtype=dtype) if record else None
    ys = np.empty((iterations + 1, n, s), dtype=dtype) if record else None
    fs = np.empty((iterations + 1, n), dtype=dtype) if record else None
    for t in range(iterations + 1):
        y, gflops, grad = objective.value_and_grad(z)
        if record:
            zs[t], ys[t], fs[t] = z, y, gflops
        if t == iterations:
            break
        z = np.clip(z - step * grad, lo, hi)
    final = enc.round_raw(enc.unstandardise(z))
    if not record:
        zs, ys, fs = z[None], y[None], gflops[None]
    return Propagation(final, enc.unstandardise(zs), objective.head_points(ys), fs.astype(np.float64))


def propagate_wta(objective: SearchObjective, start: np.ndarray, iterations: int = 70) -> Propagation:
    """Winner-takes-all on integer codes, with the closed-form cost model as lookup table T.

    T is evaluated through the cost model's traced polynomial
    (:mod:`bench.ncp.flops_poly`), which gives the same integers as
    :func:`bench.cost.cost_batch` for all 27 grown codes in one shot.

    Per iteration and code: ``dr_l`` = FLOPs increase of growing dimension l by
    one unit (8 channels, 1 otherwise); ``r = dL/de / dr`` (loss change per unit
    over FLOPs change per unit). If max r over the dims that CAN shrink is > 0
    that dim shrinks by one unit; else if min r over the dims that CAN grow is < 0
    that dim grows (a dim at its bound is never chosen to move past it).

    The winner's move is taken only if it raises ``J`` on the grid (predicted
    metrics, exact FLOPs: :meth:`SearchObjective.score`); otherwise the code is
    stationary and stays so. The gradient is a first-order guess of a whole grid
    step: where it changes sign between two neighbouring grid values (a peak of
    the predictor between o = 8 and 16, say) the bare rule flips the dim back and
    forth every iteration, and the result depended on the parity of the iteration
    count. With the check, ``J`` rises strictly along the trajectory, so no code
    repeats. ``Propagation.stopped`` says when each code became stationary.

    Example:
        >>> from bench.ncp.synthetic import tiny_objective
        >>> result = propagate_wta(tiny_objective(), default_start(1), iterations=3)
        >>> int(np.abs(result.final - default_start(1)).sum() > 0)
        1
    """
    if objective.flops_poly is None:
        raise BenchError("winner-takes-all needs the closed-form cost model; it is defined for the nasbench_mr space only")
    x = _check_start(objective, start).astype(np.int64)
    if np.any((x - objective.encoding.lo) % objective.encoding.unit):
        raise BenchError("winner-takes-all starts from grid codes (channels multiples of 8); round the start first")
    enc = objective.encoding
    unit = enc.unit.astype(np.int64)
    n, d = x.shape
    grow = np.eye(d, dtype=np.int64) * unit  # row l: + one unit on dim l
    xs, ys, fs = [], [], []
    rows = np.arange(n)
    stopped = np.full(n, -1)
    table = objective.flops_poly.numpy  # T: the cost model traced to a polynomial (same integers as cost_batch)
    for t in range(iterations + 1):
        y, _, grad = objective.value_and_grad(enc.standardise(x))
        base = np.rint(table(x) * 1e9)
        xs.append(x.astype(np.float64))
        ys.append(y)
        fs.append(base / 1e9)
        if t == iterations:
            break
        moving = stopped < 0
        grown = np.rint(table((x[:, None, :] + grow[None]).reshape(-1, d)) * 1e9).reshape(n, d)
        dr = (grown - base[:, None]) / 1e9
        per_unit = grad.astype(np.float64) / enc.scale * unit  # dL for +1 unit of every dim
        ratio = per_unit / dr
        shrink = np.where(x > enc.lo, ratio, -np.inf)
        expand = np.where(x < enc.hi, ratio, np.inf)
        best_shrink, best_grow = shrink.argmax(1), expand.argmin(1)
        do_shrink = moving & (shrink[rows, best_shrink] > 0)
        do_grow = moving & ~do_shrink & (expand[rows, best_grow] < 0)
        proposal = x.copy()
        proposal[rows[do_shrink], best_shrink[do_shrink]] -= unit[best_shrink[do_shrink]]
        proposal[rows[do_grow], best_grow[do_grow]] += unit[best_grow[do_grow]]
        moves = do_shrink | do_grow
        better = np.zeros(n, dtype=bool)
        if moves.any():
            gain = objective.score(proposal[moves], table(proposal[moves])) - objective.score(x[moves], base[moves] / 1e9)
            better[moves] = gain > 0
        stopped[moving & ~better] = t
        x = np.where(better[:, None], proposal, x)
    return Propagation(x, np.stack(xs), objective.head_points(np.stack(ys)), np.stack(fs), stopped)
