"""Store benchmark: load time of one setting, import time of the published pickles, resume memory.

    python benchmarks/bench_store.py                 # 2,500 architectures x 10 seeds = 25,000 runs
    python benchmarks/bench_store.py --seeds 2       # quicker: 5,000 runs

Prints one table. Targets (docs/PERF.md): a setting's 2,500 rows into a
DataFrame in <= 50 ms; the driver's memory flat as finished runs grow.
Commits go through ``Store.commit_run`` from worker processes, as a
scheduler's would, with fsync off (a scratch store: the disk flush is not
what is measured here).
"""

from __future__ import annotations

import argparse
import multiprocessing
import pickle
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pyarrow as pa

from bench.argtypes import count
from bench.cost import cost
from bench.space import sample_codes
from bench.store import RunRecord, Store, resume_status
from bench.store.compact import compact
from bench.store.official import import_official
from benchmarks.timing import timed

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "nasbench_mr"
ROWS: list[tuple[str, str, str]] = []


def row(name: str, value: str, note: str = "") -> None:
    ROWS.append((name, value, note))
    print(f"  {name}: {value} {note}", flush=True)


def _commit_chunk(uri: str, codes: list[str], seeds: list[int]) -> int:
    from bench.job import CurvePoint

    store = Store.open(uri, fsync=False)
    rng = np.random.default_rng(len(codes) * 1000 + seeds[0])
    for code in codes:
        for seed in seeds:
            top1 = float(rng.uniform(40, 85))
            curve = tuple(CurvePoint(e, "epoch", "top1", top1 * e / 100) for e in range(5, 101, 5))
            store.commit_run(RunRecord(code=code, setting="cls_a", seed=seed, attempt=1, status="succeeded",
                                       metrics={"top1": top1, "top5": top1 + 10}, curve=curve, host="bench",
                                       git_sha="0" * 40, packages={"pyarrow": pa.__version__}, wall_seconds=3600.0))
    return len(codes) * len(seeds)


def commit_runs(uri: str, codes: list[str], seeds: list[int], workers: int) -> float:
    """Commit every (code, seed) from ``workers`` processes; returns commits per second."""
    chunks = [codes[i::workers] for i in range(workers)]
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        done = sum(pool.starmap(_commit_chunk, [(uri, chunk, seeds) for chunk in chunks]))
    return done / (time.perf_counter() - start)


def resume_memory(store: Store, keys: list[tuple[str, str, int]]) -> tuple[float, float, float, int]:
    """(seconds, peak MiB, MiB held by the answer itself, keys done) of one resume_status over the sweep.

    The answer (sets and lists of the sweep's keys) is O(sweep); everything
    else is the scan's working memory, which must not grow with finished runs.
    """
    tracemalloc.start()
    start = time.perf_counter()
    status = resume_status(store, keys, max_attempts=3)
    seconds = time.perf_counter() - start
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20, held / 2**20, len(status.done)


def generated_pickle(directory: Path, codes) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for code in codes:
        c = cost(code)
        rows.append({"top1": float(rng.uniform(40, 85)), "top5": float(rng.uniform(70, 95)), "flops": c.gflops,
                     "params": c.params_m, **code.to_row()})
    (directory / "cls-50-1000.pkl").write_bytes(pickle.dumps(rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", type=count, default=2500)
    parser.add_argument("--seeds", type=count, default=10, help="runs = archs x seeds (25,000 by default)")
    parser.add_argument("--workers", type=count, default=2)
    parser.add_argument("--repeats", type=count, default=20)
    args = parser.parse_args()
    codes = sample_codes(n=args.archs, seed=0)
    strings = [c.to_string() for c in codes]
    work = Path(tempfile.mkdtemp(prefix="bench-store-"))

    print("load one setting into a DataFrame (Store.open + load_setting + to_pandas):")
    (work / "src").mkdir()
    generated_pickle(work / "src", codes)
    import_official(Store.open(str(work / "imported")), str(work / "src"))
    med, best = timed(lambda: Store.open(str(work / "imported")).load_setting("cls_a").to_pandas(), args.repeats, warmup=1)
    row(f"load imported setting, {args.archs} rows", f"{med * 1e3:.1f} ms", f"(min {best * 1e3:.1f} ms; target <= 50 ms)")
    if SHARED.is_dir():
        shared = Store.open(str(work / "shared"))
        med_i, best_i = timed(lambda: import_official(Store.open(str(work / f"shared-{time.perf_counter_ns()}")), str(SHARED)), 3, warmup=1)
        row("import all shared pickles (cls-50-1000, seg, video, nb201_sample)", f"{med_i:.2f} s", f"(min {best_i:.2f} s)")
        import_official(shared, str(SHARED))
        med, best = timed(lambda: Store.open(str(work / "shared")).load_setting("cls_a").to_pandas(), args.repeats, warmup=1)
        row("load shared cls-50-1000, 2507 rows", f"{med * 1e3:.1f} ms", f"(min {best * 1e3:.1f} ms)")
    else:
        row("import all shared pickles", "skipped", f"({SHARED} not found)")

    print(f"resume bookkeeping over a sweep of {args.archs * args.seeds} runs (tracemalloc peak of resume_status):")
    uri = str(work / "measured")
    store = Store.open(uri, fsync=False)
    keys = [(c.arch_id, "cls_a", s) for c in codes for s in range(args.seeds)]
    seconds, peak, held, done = resume_memory(store, keys)
    row("resume, 0 finished", f"{peak:.1f} MiB", f"({held:.1f} MiB of it is the answer; {seconds:.2f} s)")
    stages = sorted({max(1, args.seeds // 5), max(1, args.seeds // 2), args.seeds})
    committed = 0
    for seeds_done in stages:
        rate = commit_runs(uri, strings, list(range(committed, seeds_done)), args.workers)
        committed = seeds_done
        seconds, peak, held, done = resume_memory(store, keys)
        row(f"resume, {done} finished (pending files)", f"{peak:.1f} MiB",
            f"({held:.1f} MiB of it is the answer; {seconds:.2f} s; committed at {rate:.0f} runs/s with "
            f"{args.workers} processes)")
    start = time.perf_counter()
    report = compact(store)
    row(f"compact {report.commits_absorbed} commit files", f"{time.perf_counter() - start:.1f} s")
    seconds, peak, held, done = resume_memory(store, keys)
    row(f"resume, {done} finished (compacted)", f"{peak:.1f} MiB", f"({held:.1f} MiB of it is the answer; {seconds:.2f} s)")
    med, best = timed(lambda: Store.open(uri).load_setting("cls_a").to_pandas(), args.repeats, warmup=1)
    row(f"load measured setting (compacted), {args.archs} rows x {args.seeds} seeds", f"{med * 1e3:.1f} ms",
        f"(min {best * 1e3:.1f} ms; target <= 50 ms)")

    print("\n| measure | value | note |\n|---|---|---|")
    for name, value, note in ROWS:
        print(f"| {name} | {value} | {note.strip('()')} |")
    print(f"\n(scratch stores left in {work})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
