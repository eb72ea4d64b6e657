"""How the benchmark scripts time a call: median and best of repeated calls, after warm-ups."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(fn: Callable[[], object], repeats: int, warmup: int = 0) -> tuple[float, float]:
    """(median, min) seconds of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls.

    Warm-up calls absorb first-call allocations and the CPU's frequency ramp; the median is
    what to report on a shared machine, the minimum what an idle one would approach.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)
