"""Query API benchmark: open time, first touch per setting, per-query time, memory.

    python benchmarks/bench_query.py                       # published pickles from ../shared/nasbench_mr
    python benchmarks/bench_query.py --archs 2500 --seeds 10   # a full-size measured setting (minutes)

Imports the published settings into a temporary store and adds one measured
setting (``cls_b``: ``--archs`` architectures x ``--seeds`` seeds, a curve of
top-1 and top-5 every 5 of 100 epochs, committed through ``Store.commit_run``
with fsync off, then compacted), so that intermediate queries are measured
too. Prints one table. Targets (issue 14): opening reads only what it needs,
a query takes well under a millisecond, memory grows with the settings
touched only.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pyarrow as pa

from bench.argtypes import count
from bench.benchmark import Benchmark, Budget
from bench.code import ArchCode
from bench.space import sample_codes
from bench.store import RunRecord, Store
from bench.store.compact import compact
from bench.store.official import import_official
from benchmarks.timing import timed

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "nasbench_mr"
MEASURED = "cls_b"
ROWS: list[tuple[str, str]] = []


def row(name: str, value: str) -> None:
    ROWS.append((name, value))
    print(f"  {name}: {value}", flush=True)


def ms(pair: tuple[float, float]) -> str:
    return f"{pair[0] * 1e3:.2f} ms (min {pair[1] * 1e3:.2f})"


def add_measured(uri: str, archs: int, seeds: int) -> None:
    """``archs`` x ``seeds`` plausible runs of MEASURED with curves, committed and compacted."""
    from bench.job import CurvePoint

    store = Store.open(uri, fsync=False)
    rng = np.random.default_rng(0)
    config = json.dumps({"schedule": {"unit": "epoch", "length": 100}})
    for code in sample_codes(n=archs, seed=99):
        for seed in range(seeds):
            top1 = float(rng.uniform(30, 80))
            curve = tuple(CurvePoint(e, "epoch", m, v * e / 100) for e in range(5, 101, 5)
                          for m, v in (("top1", top1), ("top5", top1 + 15)))
            store.commit_run(RunRecord(code=code.to_string(), setting=MEASURED, seed=seed, attempt=1,
                                       status="succeeded", metrics={"top1": top1, "top5": top1 + 15}, curve=curve,
                                       wall_seconds=float(rng.uniform(1800, 7200)), config_json=config,
                                       info_json='{"synthetic_data":false}', host="bench", git_sha="0" * 40))
    compact(store)


def per_query(label: str, calls: list, repeats: int = 3) -> float:
    """Microseconds per call of ``calls`` (zero-argument functions), best of ``repeats`` passes."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for call in calls:
            call()
        best = min(best, (time.perf_counter() - start) / len(calls))
    row(f"per query: {label}", f"{best * 1e6:.1f} us")
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", default=str(SHARED), help="directory of the published pickles")
    parser.add_argument("--archs", type=count, default=500, help="architectures of the measured setting")
    parser.add_argument("--seeds", type=count, default=3, help="seeds per architecture of the measured setting")
    parser.add_argument("--queries", type=count, default=20000, help="queries per per-query measurement")
    args = parser.parse_args()
    if not Path(args.src).is_dir():
        print(f"published pickles not found in {args.src}; pass --src DIR (see docs/store.md)", file=sys.stderr)
        return 2
    uri = str(Path(tempfile.mkdtemp(prefix="bench-query-")) / "store")
    store = Store.open(uri, fsync=False)
    start = time.perf_counter()
    import_official(store, args.src)
    add_measured(uri, args.archs, args.seeds)
    print(f"store built in {time.perf_counter() - start:.1f} s: {uri}", flush=True)
    settings = Benchmark.open(uri).settings()
    Benchmark.open(uri).codes(settings[0])  # import everything the first touch needs, once, outside the timings

    row("settings", ", ".join(f"{s} ({len(Benchmark.open(uri).codes(s))} archs)" for s in settings))
    row("Benchmark.open", ms(timed(lambda: Benchmark.open(uri), 20)))
    for setting in settings:
        row(f"first touch: {setting}", ms(timed(lambda: Benchmark.open(uri).codes(setting), 5)))

    def first_curves() -> None:
        bench = Benchmark.open(uri)
        code = bench.codes(MEASURED)[0]
        start = time.perf_counter()
        bench.query(code, MEASURED, at=50)
        times.append(time.perf_counter() - start)

    times: list[float] = []
    for _ in range(3):
        first_curves()
    row(f"first at= query: {MEASURED} curves ({args.archs * args.seeds * 40} points)",
        f"{statistics.median(times) * 1e3:.1f} ms (min {min(times) * 1e3:.1f})")

    bench = Benchmark.open(uri)
    rng = random.Random(0)
    imported, measured = settings[0], MEASURED
    codes = {s: bench.codes(s) for s in settings}
    picks = {s: [rng.choice(codes[s]) for _ in range(args.queries)] for s in settings}
    parsed = [ArchCode.from_string(c) for c in picks[imported]]
    ids = [c.arch_id for c in parsed]
    bench.query(picks[measured][0], measured, at=50)  # curves loaded before timing
    per_query(f"final, imported {imported}, official string",
              [lambda c=c: bench.query(c, imported) for c in picks[imported]])
    per_query(f"final, imported {imported}, ArchCode", [lambda c=c: bench.query(c, imported) for c in parsed])
    per_query(f"final, imported {imported}, arch_id", [lambda c=c: bench.query(c, imported) for c in ids])
    per_query(f"final, measured {measured}, mean of {args.seeds} seeds",
              [lambda c=c: bench.query(c, measured) for c in picks[measured]])
    per_query(f"final, measured {measured}, one seed", [lambda c=c: bench.query(c, measured, seed=1 % args.seeds)
                                                         for c in picks[measured]])
    per_query(f"intermediate at=50 epochs, {measured}, mean of seeds",
              [lambda c=c: bench.query(c, measured, at=50) for c in picks[measured]])
    per_query(f"intermediate at=50 epochs, {measured}, one seed",
              [lambda c=c: bench.query(c, measured, at=50, seed=0) for c in picks[measured]])
    per_query(f"query_settings, every setting of the store ({', '.join(settings)})",
              [lambda c=c: bench.query_settings(c) for c in picks[imported][: args.queries // 10]], repeats=1)
    bench.budget = Budget(queries=10**9)
    per_query("final with a budget counting", [lambda c=c: bench.query(c, imported) for c in picks[imported]])
    bench.budget = None
    one = ids[0]
    naive = timed(lambda: Store.open(uri).load_setting(imported, filters=[("arch_id", "=", one)]), 20)
    row("for comparison: Store.open + load_setting filtered to one arch", ms(naive))

    del bench, codes, picks, parsed, ids
    gc.collect()
    tracemalloc.start()
    arrow_before = pa.total_allocated_bytes()
    bench = Benchmark.open(uri)
    row("memory after open", f"{tracemalloc.get_traced_memory()[0] / 2**20:.2f} MiB (Python heap)")
    for setting in settings:
        bench.codes(setting)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] / 2**20
        arrow = (pa.total_allocated_bytes() - arrow_before) / 2**20
        row(f"memory after touching {setting}", f"{held:.2f} MiB Python heap + {arrow:.2f} MiB Arrow, cumulative")
    bench.query(bench.codes(measured)[0], measured, at=50)
    gc.collect()
    held, peak = (v / 2**20 for v in tracemalloc.get_traced_memory())
    arrow = (pa.total_allocated_bytes() - arrow_before) / 2**20
    row(f"memory after {measured}'s curves",
        f"{held:.2f} MiB Python heap + {arrow:.2f} MiB Arrow (peak heap {peak:.1f})")
    tracemalloc.stop()

    width = max(len(name) for name, _ in ROWS)
    print("\n| measure | value |\n|---|---|")
    for name, value in ROWS:
        print(f"| {name.ljust(width)} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
