"""NAS-Bench-MR: multi-resolution search space, cost model, store, query API and NCP search."""

from bench.code import ArchCode
from bench.errors import BenchError, CodeError

__all__ = ["ArchCode", "BenchError", "Benchmark", "Budget", "BudgetExceeded", "CodeError"]


def __getattr__(name: str):
    # The query API pulls in pyarrow and the store; import it only when asked for (bench.Benchmark).
    if name in ("Benchmark", "Budget", "BudgetExceeded"):
        import bench.benchmark

        return getattr(bench.benchmark, name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
