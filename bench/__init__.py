"""NAS-Bench-MR: multi-resolution search space, cost model, store and NCP search."""

from bench.code import ArchCode
from bench.errors import BenchError, CodeError

__all__ = ["ArchCode", "BenchError", "CodeError"]
