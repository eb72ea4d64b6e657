"""Benchmark export with its manifest, coverage flags, correlations and statistics, and the CLI."""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from bench.code import FIELD_NAMES, ArchCode
from bench.errors import BenchError
from bench.settings import get_setting
from bench.store import Store
from bench.store.analysis import correlate, stats
from bench.store.export import export_benchmark, export_pickles
from bench.store.official import import_official
from tests.store.helpers import CODES, SHARED, failed, succeeded
from tests.store.official_fixtures import mr_rows, write_published_dir

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def imported(tmp_path) -> Store:
    write_published_dir(tmp_path / "src", ("cls_a", "seg", "det3d"))
    store = Store.open(str(tmp_path / "store"))
    import_official(store, str(tmp_path / "src"))
    return store


def test_export_writes_the_documented_columns_and_a_checkable_manifest(imported, tmp_path):
    result = export_benchmark(imported, tmp_path / "out")
    assert result.refused == {}
    manifest = json.loads((tmp_path / "out" / "MANIFEST.json").read_text())
    assert set(manifest["settings"]) == {"cls_a", "seg", "det3d", "nb201"}
    for setting, entry in manifest["settings"].items():
        data = (tmp_path / "out" / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        table = pd.read_parquet(tmp_path / "out" / entry["file"])
        assert len(table) == entry["rows"] and entry["complete"]
        assert get_setting(setting).main_metric in table.columns and "provenance" in table.columns
        if setting != "nb201":
            assert list(table.columns[:31]) == ["arch_id", "code", *FIELD_NAMES, "params_m", "gflops"]
            assert table["provenance"].str.startswith("imported from").all()
    spaces = manifest["coverage"]["spaces"]
    assert spaces["nasbench_mr"]["in_every_exported_setting"] == 30
    assert spaces["nb201"]["settings"] == ["nb201"] and spaces["nb201"]["in_every_exported_setting"] > 0
    assert set(manifest["coverage"]["per_setting"]) == {"cls_a", "seg", "det3d", "nb201"}  # nb201 is counted too
    assert manifest["data"] == "benchmark" and manifest["synthetic"] is False
    assert all(entry["data_kinds"] == {"imported": entry["rows"]} for entry in manifest["settings"].values())
    det3d = pd.read_parquet(tmp_path / "out" / "det3d.parquet")
    assert list(det3d["car_3d_moderate"]) == [r["moderate"] for r in mr_rows("det3d")]


def test_setting_with_failed_or_missing_architectures_is_refused_or_flagged(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    store.commit_run(succeeded(CODES[0]))
    store.commit_run(failed(CODES[1]))
    refused = export_benchmark(store, tmp_path / "a")
    assert "cls_a" in refused.refused and not (tmp_path / "a" / "cls_a.parquet").exists()
    flagged = export_benchmark(store, tmp_path / "b", allow_incomplete=True)
    entry = flagged.manifest["settings"]["cls_a"]
    assert not entry["complete"] and entry["failed"] == [ArchCode.from_string(CODES[1]).arch_id]
    assert (tmp_path / "b" / "cls_a.curves.parquet").exists() and entry["curves"]["rows"] == 4
    store.commit_run(succeeded(CODES[1], attempt=2))
    assert export_benchmark(store, tmp_path / "c").refused == {}
    expected = export_benchmark(store, tmp_path / "d", expected_codes=CODES[:3])
    assert "1 missing" in expected.refused["cls_a"]
    provenance = pd.read_parquet(tmp_path / "c" / "cls_a.parquet")["provenance"]
    assert provenance.str.contains("real runs: seeds \\[0\\]").all()


def _generated_store(tmp_path: Path) -> Store:
    """Three settings over overlapping but different architecture subsets."""
    src = tmp_path / "gen"
    src.mkdir()
    for setting, name, seed, keep in (("cls_a", "cls-50-1000", 1, slice(0, 25)), ("cls_b", "cls-50-100", 2, slice(5, 30)),
                                      ("seg", "seg", 3, slice(0, 30, 2))):
        rows = mr_rows(setting, n=30, seed=11)  # same codes for all, different made-up metrics per setting
        rng = np.random.default_rng(seed)
        for row in rows:
            for key in ("top1", "mIoU"):
                if key in row:
                    row[key] = float(rng.uniform(0, 100))
        (src / f"{name}.pkl").write_bytes(pickle.dumps(rows[keep]))
    store = Store.open(str(tmp_path / "store"))
    import_official(store, str(src))
    return store


def _check_against_scipy(store: Store) -> None:
    corr, counts = correlate(store)
    for a in corr.index:
        for b in corr.columns:
            left = store.load_setting(a).to_pandas().set_index("arch_id")[get_setting(a).main_metric]
            right = store.load_setting(b).to_pandas().set_index("arch_id")[get_setting(b).main_metric]
            shared = left.index.intersection(right.index)
            assert counts.loc[a, b] == len(shared)
            direct = spearmanr(left[shared].to_numpy(), right[shared].to_numpy()).statistic if a != b else 1.0
            assert corr.loc[a, b] == pytest.approx(direct, abs=1e-12)


def test_correlations_equal_a_direct_scipy_computation_over_shared_architectures(tmp_path):
    store = _generated_store(tmp_path)
    _check_against_scipy(store)
    table = stats(store).set_index("setting")
    values = store.load_setting("cls_b")["top1"].to_numpy()
    assert table.loc["cls_b", "count"] == 25 and table.loc["cls_b", "std"] == pytest.approx(values.std(ddof=1))
    seg = store.load_setting("seg")["mIoU"].to_numpy()
    assert table.loc["seg", "metric"] == "mIoU" and table.loc["seg", "count"] == 15
    assert (table.loc["seg", "mean"], table.loc["seg", "min"]) == (pytest.approx(seg.mean()), seg.min())


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"published reference pickles not found at {SHARED} (../shared)")
def test_correlations_on_the_shared_settings_equal_scipy(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    import_official(store, str(SHARED))
    _check_against_scipy(store)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "launch/export.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.slow
def test_cli_acceptance_commands(tmp_path):
    _generated_store(tmp_path)
    store = str(tmp_path / "store")
    write_published_dir(tmp_path / "more", ("video",))
    done = _cli("import-official", str(tmp_path / "more"), "--store", store)
    assert done.returncode == 0, done.stderr
    assert "video: 30 architectures from video.pkl" in done.stdout
    done = _cli("export", "--store", store, "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {"cls_a.parquet", "video.parquet", "MANIFEST.json"}
    done = _cli("correlate", "--store", store, "--out", str(tmp_path / "c.csv"), "--plot", str(tmp_path / "c.png"))
    assert done.returncode == 0, done.stderr
    matrix = pd.read_csv(tmp_path / "c.csv", index_col="setting")
    assert list(matrix.index) == list(matrix.columns) == ["cls_a", "cls_b", "seg", "video"]
    assert (tmp_path / "c.png").stat().st_size > 1000
    done = _cli("stats", "--store", store)
    assert done.returncode == 0 and "cls_b" in done.stdout and "mIoU" in done.stdout
    for command in ("compact", "verify"):
        done = _cli(command, "--store", store)
        assert done.returncode == 0, done.stderr
    assert "checked" in done.stdout and "0 damaged" in done.stdout
    done = _cli("stats", "--store", str(tmp_path / "absent"))
    assert done.returncode == 2 and "not a store" in done.stderr and "Traceback" not in done.stderr
    # An output file that cannot be written is one line before any work (it was [Errno 21] after it).
    (tmp_path / "a_file").write_text("keep me\n")
    for args, message in ((("correlate", "--out", str(tmp_path)), f"--out='{tmp_path}' is a directory; valid is a file path"),
                          (("correlate", "--out", str(tmp_path / "c2.csv"), "--plot", str(tmp_path / "a_file" / "p.png")),
                           f"--plot='{tmp_path / 'a_file' / 'p.png'}' cannot be written \\(its parent .* is a file\\)"),
                          (("stats", "--out", str(tmp_path / "a_file" / "s.csv")), "--out=.* cannot be written")):
        done = _cli(args[0], "--store", store, *args[1:])
        assert done.returncode == 2 and re.search(message, done.stderr) and done.stdout == "", (args, done.stderr)
    assert not (tmp_path / "c2.csv").exists() and (tmp_path / "a_file").read_text() == "keep me\n"


@pytest.mark.parametrize("export", [export_benchmark, export_pickles])
@pytest.mark.parametrize("out", ["a_file", "a_file/under"])
def test_an_out_that_cannot_be_a_directory_is_one_clear_error(tmp_path, export, out):
    write_published_dir(tmp_path / "src", ("seg",))
    store = Store.open(str(tmp_path / "store"))
    import_official(store, str(tmp_path / "src"))
    (tmp_path / "a_file").write_text("keep me\n")
    with pytest.raises(BenchError, match=f"--out='{tmp_path / out}' cannot be a directory.*valid is a directory"):
        export(store, tmp_path / out)
    assert (tmp_path / "a_file").read_text() == "keep me\n"
