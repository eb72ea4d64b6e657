"""Query NAS-Bench-MR from a search algorithm: ``Benchmark.open(store).query(code, setting, at=..., seed=...)``.

See docs/query.md. One idea per module: ``benchmark`` (the API), ``result``
(what a query returns), ``budget`` (simulated cost), ``table`` and ``curves``
(a setting in memory), ``codes`` (naming and comparing architectures),
``source`` (the only module that reads the store).
"""

from bench.benchmark.benchmark import Benchmark
from bench.benchmark.budget import Budget, BudgetExceeded
from bench.benchmark.result import ArchNotFound, Result, SettingInfo

__all__ = ["ArchNotFound", "Benchmark", "Budget", "BudgetExceeded", "Result", "SettingInfo"]
