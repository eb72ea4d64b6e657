"""launch/search.py end to end: a real store (imported from pickles we generate), Hydra, files on disk."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.code import ArchCode
from bench.errors import BenchError

ROOT = Path(__file__).resolve().parents[2]
FAST = ["predictor.epochs=10", "predictor.members=1", "predictor.n_train=240", "predictor.n_val=60",
        "propagation.iterations=30"]


def launch(cwd: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "launch" / "search.py"), *overrides], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_acceptance_command_writes_result_and_no_hydra_outputs(store_uri, tmp_path):
    out = tmp_path / "out"
    done = launch(tmp_path, f"store={store_uri}", "predictor.settings=[seg]", "strategy=continuous", "lambda=0.5",
                  f"out={out}", *FAST)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "result.json").read_text())
    assert ArchCode.from_string(result["code"]).to_string() == result["code"] and result["gflops"] > 0
    assert {"predicted", "params_m", "table_best_predicted", "nearest"} <= set(result)
    assert (out / "trajectory.parquet").exists() and (out / "trajectory.png").exists()
    assert not (tmp_path / "outputs").exists() and not (tmp_path / ".hydra").exists()
    assert not (ROOT / "outputs").exists()


def test_nb201_mode_reads_the_imported_table(store_uri, tmp_path):
    done = launch(tmp_path, f"store={store_uri}", "space=nb201", f"out={tmp_path / 'nb'}", *FAST)
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "nb" / "result.json").read_text())
    assert len(result["ops"]) == 6 and {"Acc", "mflops"} <= set(result["predicted"])


def test_a_bad_request_exits_2_with_one_clear_line(store_uri, tmp_path):
    done = launch(tmp_path, f"store={store_uri}", f"out={tmp_path / 'x'}", "predictor.settings=[video]", *FAST)
    assert done.returncode == 2 and "setting 'video' is not in the store" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_store_is_a_clear_error(tmp_path):
    sys.path.insert(0, str(ROOT / "launch"))
    try:
        from search import store_frames  # the launcher's store reader, in process (no subprocess start-up)
    finally:
        sys.path.pop(0)
    with pytest.raises(BenchError, match="nowhere"):
        store_frames(str(tmp_path / "nowhere"))
