"""Every benchmark script runs to the end against the current code (tiny sizes), so none rots unnoticed.

The numbers the docs quote come from full-size runs; here only that each script runs and prints
what it promises. (The GPU suite and the NCP scripts have their own tests: tests/test_gpu_suite.py,
tests/ncp/test_benchmark_scripts.py.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.store.official_fixtures import write_published_dir

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # each script starts its own interpreter; bench_sched starts Ray


def script(name: str, *args: str, cwd: Path, own_tmp: bool = True) -> str:
    # Scratch stores the scripts leave stay in the test's directory (not for Ray, whose socket paths must be short).
    env = {**os.environ, "TMPDIR": str(cwd)} if own_tmp else None
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_cost_benchmark(tmp_path):
    out = script("bench_cost.py", "--n-measured", "2", cwd=tmp_path)
    assert "closed form, vectorised (cost_batch)" in out


def test_store_benchmark(tmp_path):
    out = script("bench_store.py", "--archs", "20", "--seeds", "2", "--workers", "2", "--repeats", "2", cwd=tmp_path)
    assert "load measured setting (compacted), 20 rows x 2 seeds" in out


def test_query_benchmark_on_generated_published_pickles(tmp_path):
    write_published_dir(tmp_path / "published", ("cls_a", "seg"))
    out = script("bench_query.py", "--src", str(tmp_path / "published"), "--archs", "10", "--seeds", "2",
                 "--queries", "20", cwd=tmp_path)
    assert "per query: final, measured cls_b, mean of 2 seeds" in out and "memory after open" in out


def test_scheduler_benchmark(tmp_path):
    out = script("bench_sched.py", "--jobs", "12", "--gpus", "2", "--job-seconds", "0.05", "--cpus", "2",
                 "--store", str(tmp_path / "store"), cwd=tmp_path, own_tmp=False)
    assert "12 jobs of 0.05s on 2 simulated GPUs" in out and "(failed: 0)" in out


def test_det3d_benchmark(tmp_path):
    script("bench_det3d.py", "--quick", "--out", str(tmp_path / "det3d.json"), cwd=tmp_path)
    result = json.loads((tmp_path / "det3d.json").read_text())
    assert result["eval"]["frames"] == 500 and result["cpu_step"]["seconds_per_step"] > 0


def test_plan_sensitivity(tmp_path):
    out = script("plan_sensitivity.py", cwd=tmp_path)
    assert "GPU-hours for the frozen 2,500 codes" in out


@pytest.mark.parametrize("name, args, message", [
    ("bench_ncp.py", ["--starts", "0"], "argument --starts: 0 is invalid; valid is an integer >= 1"),
    ("bench_cost.py", ["--n-measured", "many"], "argument --n-measured: 'many' is not an integer"),
    ("bench_predictor_training.py", ["--members", "1", "0"], "argument --members: 0 is invalid"),
    ("bench_query.py", ["--queries", "-5"], "argument --queries: -5 is invalid"),
    ("bench_store.py", ["--workers", "0"], "argument --workers: 0 is invalid"),
    ("bench_sched.py", ["--job-seconds", "nan"], "argument --job-seconds: nan is invalid; valid is a finite number > 0"),
    ("ncp_tune.py", ["STORE", "--folds", "0"], "argument --folds: 0 is invalid; valid is an integer >= 1"),
    ("ncp_quality.py", ["STORE", "--epochs", "0"], "argument --epochs: 0 is invalid"),
    ("ncp_tune.py", ["STORE", "--seeds", "0", "-1"], "argument --seeds: -1 is invalid; valid is an integer >= 0"),
    ("ncp_quality.py", ["STORE", "--nb201-seeds", "x"], "argument --nb201-seeds: 'x' is not an integer"),
    ("ncp_quality.py", ["STORE", "--nb201-lambda", "-0.5"], "argument --nb201-lambda: -0.5 is invalid; valid is a finite number >= 0"),
    ("gpu_suite.py", ["--budget-s", "nan"], "argument --budget-s: nan is invalid; valid is a finite number >= 0"),
])
def test_bad_counts_and_seeds_are_refused_by_name_before_any_work(tmp_path, name, args, message):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
