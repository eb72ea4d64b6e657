"""What a query returns, what a setting offers, and the errors a search algorithm may want to catch."""

from __future__ import annotations

from dataclasses import dataclass

from bench.errors import BenchError


class ArchNotFound(BenchError):
    """The architecture has no data in the setting queried (a valid code, just not in that table)."""


@dataclass(frozen=True)
class Result:
    """One answer of :meth:`bench.Benchmark.query`.

    - ``value``: the metric under the paper's name (``top1``, ``mIoU``, ... in
      percent, as published), the mean over ``n_seeds`` seeds when ``seed`` is
      None, else that seed's value;
    - ``step`` / ``step_unit``: the evaluation point (``epoch`` or ``iter``),
      None for the final value of the finished training;
    - ``train_seconds``: training wall time to reach that point (mean over
      the seeds), None where the data has none (published settings);
      ``time_estimated`` says it was scaled from the run's total wall time by
      the position of ``step`` in the schedule, not measured at that point;
    - ``data_kind``: ``real`` (measured on real data), ``synthetic`` (a toy
      run on generated data) or ``imported`` (the authors' published value).

    Example:
        >>> r = Result("0123456789abcdef", "16_16-...", "cls_a", "top1", 71.2, step=None, step_unit=None,
        ...            seed=None, n_seeds=3, train_seconds=4210.0, time_estimated=False, data_kind="real")
        >>> r.value, r.data_kind
        (71.2, 'real')
    """

    arch_id: str
    code: str
    setting: str
    metric: str
    value: float
    step: int | None
    step_unit: str | None
    seed: int | None
    n_seeds: int | None
    train_seconds: float | None
    time_estimated: bool
    data_kind: str


@dataclass(frozen=True)
class SettingInfo:
    """What a search algorithm needs to know about a setting before it queries it.

    ``metrics``: the metric names it has (main one first in the paper's
    order); ``step_unit``: ``epoch`` / ``iter`` of its learning curves, None
    where it has none (published data); ``steps``: the evaluated points ``at=``
    accepts (every run's curve, sorted); ``n_archs``: architectures visible;
    ``n_measured``: those with a value of the main metric (a published row can
    lack it: None or NaN in the file), the ones ``sample`` and ``neighbours`` give;
    ``data_kinds``: how many rows are ``real`` / ``synthetic`` / ``imported``.
    """

    name: str
    space: str
    metrics: tuple[str, ...]
    main_metric: str
    step_unit: str | None
    steps: tuple[int, ...]
    n_archs: int
    n_measured: int
    data_kinds: tuple[tuple[str, int], ...]
    description: str
