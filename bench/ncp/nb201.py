"""NAS-Bench-201 propagation: continuous steps on the 6 x 5 one-hot, projected to a cell by per-edge argmax.

The code of a cell is one one-hot per edge, i.e. a vertex of a product of 6
probability simplices; the predictor is trained on those vertices only. Propagation
keeps a continuous code (every edge a point of its simplex: entries >= 0 summing to
1, restored after each step by Euclidean projection) and, by default
(``projection="straight_through"``), evaluates the predictor's gradient AT THE
PROJECTED CELL (the per-edge argmax of the continuous code), where the predictor has
training data; the continuous code accumulates those gradients until another op
overtakes on some edge, which moves the cell. Every ``readout_every`` iterations (by
default every iteration: the predictor is evaluated at each visited cell anyway) and
at the end, the projected cell is read out as a candidate; the found cell is the
candidate with the best objective ``J`` (evaluated at its one-hot), not the last one.
(The paper projects every 10 iterations; read-outs every 10 iterations miss most of
the 15-25 cells a 60-iteration trajectory visits.)

``projection="snap"`` is the project's earlier behaviour: the gradient is taken at the
continuous mixture, and every 10 iterations the code is RESET to its argmax one-hot.
From a vertex the gradient keeps pointing at the vertex's own ops and 10 steps never
let another op overtake, so every projection snapped back to the same cell (a
saw-tooth trajectory; the search was over after 10 iterations). ``"relaxed"`` takes
the gradient at the mixture without resetting: it no longer snaps back, but follows
the predictor far from any cell it was trained on. docs/search.md compares the three.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from bench import nb201
from bench.errors import BenchError, check_int
from bench.ncp.encoding import NB201_ENCODING, nb201_argmax
from bench.ncp.objective import SearchObjective
from bench.ncp.propagate import Propagation, check_step_size

PROJECTIONS = ("straight_through", "relaxed", "snap")


def project_simplex(x: np.ndarray) -> np.ndarray:
    """Euclidean projection of every row of (M, K) onto the probability simplex (Duchi et al., 2008).

    Example:
        >>> project_simplex(np.array([[0.5, 0.5, 0.5], [2.0, 0.0, 0.0]])).round(4).tolist()
        [[0.3333, 0.3333, 0.3333], [1.0, 0.0, 0.0]]
    """
    u = -np.sort(-x, axis=1)
    css = u.cumsum(1) - 1
    k = np.arange(1, x.shape[1] + 1, dtype=x.dtype)
    rho = ((u - css / k) > 0).cumsum(1).argmax(1)  # last index where the condition holds
    theta = np.take_along_axis(css, rho[:, None], 1) / (rho[:, None] + 1).astype(x.dtype)
    return np.maximum(x - theta, 0)


@dataclass(frozen=True)
class Nb201Search:
    """Outcome of :func:`propagate_nb201` for one start: the found one-hot (30,), every read-out
    candidate (iteration, one-hot, ``J``), the propagation's trajectory and its seconds."""

    found: np.ndarray
    iterations: tuple[int, ...]
    candidates: np.ndarray
    scores: np.ndarray
    propagation: Propagation
    seconds: float


def _on_simplex(z: np.ndarray) -> np.ndarray:
    """Standardised codes with every edge projected onto its probability simplex."""
    scale, center = float(NB201_ENCODING.scale[0]), float(NB201_ENCODING.center[0])  # python floats keep z's dtype
    x = project_simplex((z * scale + center).reshape(-1, nb201.NUM_OPS)).reshape(z.shape)
    return (x - center) / scale


def _cell(z: np.ndarray) -> np.ndarray:
    """The projected cell (per-edge argmax one-hot) of standardised codes, standardised."""
    onehot = nb201_argmax(NB201_ENCODING.unstandardise(z))
    return NB201_ENCODING.standardise(onehot).astype(z.dtype)


def check_nb201_options(iterations: int, step_size: float, readout_every: int, projection: str) -> None:
    """The ``nb201.*`` options of :func:`propagate_nb201`; an error names the bad one."""
    check_int("nb201.iterations", iterations, 1)
    check_int("nb201.readout_every", readout_every, 1)
    check_step_size("nb201.step_size", step_size)
    if projection not in PROJECTIONS:
        raise BenchError(f"nb201.projection={projection!r} is invalid; valid are {list(PROJECTIONS)}")


def propagate_nb201(objective: SearchObjective, iterations: int = 60, step_size: float = 0.5,
                    readout_every: int = 1, projection: str = "straight_through") -> Nb201Search:
    """Propagate from the uniform mixture (every op 1/5 on every edge); see the module docstring.

    ``step_size`` is on the standardised code. The trajectory records the continuous
    code and the predictions at the point the gradient was taken. Errors name the bad argument.

    Example:
        >>> from bench.ncp.synthetic import tiny_nb201_objective
        >>> result = propagate_nb201(tiny_nb201_objective(), iterations=20, readout_every=10)
        >>> result.iterations, result.found.reshape(6, 5).sum(1).tolist()
        ((10, 20), [1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    """
    check_nb201_options(iterations, step_size, readout_every, projection)
    if objective.encoding.space != "nb201":
        raise BenchError(f"propagate_nb201 needs an nb201 objective, not {objective.encoding.space!r}")
    enc, dtype = objective.encoding, objective.dtype
    z = np.zeros((1, enc.dim), dtype=dtype)  # the uniform mixture: each indicator at its mean 1/5
    step = dtype.type(step_size)
    zs, ys, read_at, read = [], [], [], []
    began = time.perf_counter()
    for t in range(iterations + 1):
        if t and (t % readout_every == 0 or t == iterations):
            read_at.append(t)
            read.append(nb201_argmax(enc.unstandardise(z))[0])
            if projection == "snap":
                z = _cell(z)
        at = _cell(z) if projection == "straight_through" and t else z  # t = 0: every op ties
        y, _, grad = objective.value_and_grad(at)
        zs.append(z)
        ys.append(y)
        if t < iterations:
            z = _on_simplex(z - step * grad)
    seconds = time.perf_counter() - began
    candidates = np.stack(read)
    scores = objective.score(candidates)
    best = int(np.argmax(scores))
    nb201.ops_of_onehot(candidates[best], "the search's best cell")  # validates the one-hot
    x = enc.unstandardise(np.stack(zs))
    propagation = Propagation(candidates[best][None], x, objective.head_points(np.stack(ys)),
                              np.full((iterations + 1, 1), np.nan))
    return Nb201Search(candidates[best], tuple(read_at), candidates, scores, propagation, seconds)


def ops_string(onehot: np.ndarray) -> str:
    """The store's nb201 ``code``: the op index of each edge joined by ``_``.

    Example:
        >>> ops_string(np.eye(5)[[3, 1, 3, 0, 2, 4]].reshape(-1))
        '3_1_3_0_2_4'
    """
    return nb201.cell_code(nb201.ops_of_onehot(np.asarray(onehot).reshape(nb201.WIDTH)))
