"""Closed-form cost model vs building the module and counting a forward pass.

Run: python benchmarks/bench_cost.py [--n-measured 100]

Uses the published codes from ../shared/nasbench_mr/seg.pkl when present,
else 2,507 codes from the seeded sampler. Reports per-code times and ratios
(measured side by side in one run: compare ratios, not absolute times).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np
import torch

from bench.argtypes import count
from bench.code import ArchCode
from bench.cost import cost, cost_batch
from bench.count import measure
from bench.nn import build_network
from bench.safe_pickle import load_untrusted
from bench.space import sample_codes

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "nasbench_mr" / "seg.pkl"


def load_codes() -> tuple[list[ArchCode], str]:
    if REFERENCE.exists():
        return [ArchCode.from_row(r) for r in load_untrusted(REFERENCE)], "published seg.pkl"
    return sample_codes(2507, seed=0), "seeded sample (../shared absent)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-measured", type=count, default=100, help="codes built and measured (slow path)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    codes, source = load_codes()
    array = np.array([c.to_list() for c in codes])

    start = time.perf_counter()
    for code in codes:
        cost(code)
    scalar_s = (time.perf_counter() - start) / len(codes)

    cost_batch(array)  # warm-up
    start = time.perf_counter()
    repeats = 20
    for _ in range(repeats):
        cost_batch(array)
    batch_s = (time.perf_counter() - start) / (repeats * len(codes))

    sample = random.Random(0).sample(codes, args.n_measured)
    start = time.perf_counter()
    for code in sample:
        measure(build_network(code, "cls", 50), torch.zeros(1, 3, 128, 128))
    measured_s = (time.perf_counter() - start) / len(sample)

    print(f"codes: {len(codes)} from {source}; measured path on {len(sample)} of them; 1 CPU thread")
    print(f"{'method':<40}{'per code':>14}{'speed-up':>12}")
    print(f"{'build module + forward hooks':<40}{measured_s * 1e3:>11.2f} ms{1:>11.0f}x")
    print(f"{'closed form, one code (ArchCode)':<40}{scalar_s * 1e6:>11.2f} us{measured_s / scalar_s:>11.0f}x")
    print(f"{'closed form, vectorised (cost_batch)':<40}{batch_s * 1e6:>11.3f} us{measured_s / batch_s:>11.0f}x")


if __name__ == "__main__":
    main()
