"""Validation quality of a predictor under both protocols (docs/search.md, "Predictor quality").

- ``mae``: the FINAL model's mean absolute error over the validation rows, in metric
  points. This is the honest number: nothing was chosen on the validation rows.
- ``mae_best_epoch``: the paper's protocol as the released code computes it: after every
  epoch the validation L1 is averaged over validation batches (``batch_size`` rows, in
  the split's order, each batch's mean, then the mean over batches), and the reported
  number is the lowest over all epochs of the MAIN metric's loss (the epoch is chosen
  on the validation set itself). Other metrics are reported at that same epoch, which
  is the model the released code saves (``best_model.pth``).
- ``kendall_tau`` / ``spearman_rho``: rank agreement of the final model's predictions
  with the truth (scipy's tau-b and rho).
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def batch_mean_l1(predicted: np.ndarray, truth: np.ndarray, batch_size: int) -> float:
    """Mean over consecutive batches of each batch's mean |error| (rows without truth skipped).

    Example:
        >>> batch_mean_l1(np.zeros(3), np.array([1.0, 1.0, 4.0]), batch_size=2)
        2.5
    """
    means = []
    for start in range(0, len(truth), batch_size):
        t, p = truth[start : start + batch_size], predicted[start : start + batch_size]
        seen = np.isfinite(t)
        if seen.any():
            means.append(float(np.abs(p[seen] - t[seen]).mean()))
    return float(np.mean(means)) if means else float("nan")


def rank_agreement(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(Kendall tau-b, Spearman rho) of two (N,) arrays; NaN when undefined (fewer than 2 rows)."""
    if len(truth) < 2:
        return float("nan"), float("nan")
    return float(stats.kendalltau(predicted, truth).statistic), float(stats.spearmanr(predicted, truth).statistic)


def quality_report(metrics: tuple[str, ...], final: np.ndarray, history: np.ndarray, truth: np.ndarray,
                   batch_size: int) -> dict[str, dict[str, float]]:
    """Per metric: mae, mae_best_epoch, best_epoch, kendall_tau, spearman_rho, n.

    ``final`` (N, M) and ``history`` (epochs, N, M) are predictions in metric points of
    the validation rows (in the split's order), ``truth`` (N, M) with NaN where not measured.
    """
    per_epoch = np.array([batch_mean_l1(h[:, 0], truth[:, 0], batch_size) for h in history])
    best = int(np.nanargmin(per_epoch)) if len(per_epoch) and np.isfinite(per_epoch).any() else -1
    report = {}
    for i, m in enumerate(metrics):
        seen = np.isfinite(truth[:, i])
        p, t = final[seen, i], truth[seen, i]
        tau, rho = rank_agreement(p, t)
        report[m] = {
            "mae": float(np.abs(p - t).mean()) if len(t) else float("nan"),
            "mae_best_epoch": batch_mean_l1(history[best][:, i], truth[:, i], batch_size) if best >= 0 else float("nan"),
            "best_epoch": best + 1,
            "kendall_tau": tau,
            "spearman_rho": rho,
            "n": int(seen.sum()),
        }
    return report


def paired_mae_difference(errors: np.ndarray, baseline_errors: np.ndarray) -> tuple[float, float, float]:
    """Mean of ``errors - baseline_errors`` (absolute errors of two predictors on the same (N,)
    rows, metric points) with its 95% paired bootstrap interval (scipy.stats.bootstrap, BCa,
    10,000 resamples, seed 0): (difference, low, high). An interval containing 0 means the
    rows cannot tell the two apart from chance.

    Example:
        >>> d, low, high = paired_mae_difference(np.full(50, 1.0), np.linspace(0.5, 1.5, 50))
        >>> round(d, 6), low < 0 < high
        (0.0, True)
    """
    diff = np.asarray(errors, dtype=float) - np.asarray(baseline_errors, dtype=float)
    ci = stats.bootstrap((diff,), np.mean, confidence_level=0.95, n_resamples=10_000, method="BCa",
                         random_state=np.random.default_rng(0)).confidence_interval
    return float(diff.mean()), float(ci.low), float(ci.high)
