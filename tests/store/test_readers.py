"""Every Parquet file or directory the store writes opens with the tools users reach for: pandas, pyarrow, DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pytest

from bench.store import Store
from bench.store.compact import compact
from bench.store.export import export_benchmark
from bench.store.official import import_official
from tests.store.helpers import CODES, failed, succeeded
from tests.store.official_fixtures import write_published_dir


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("readers")
    store = Store.open(str(root / "store"))
    for i, code in enumerate(CODES[:6]):
        store.commit_run(succeeded(code, top1=float(i)))
        store.commit_run(succeeded(code, setting="cls_b", top1=float(i)))
    store.commit_run(failed(CODES[7]))
    compact(store)
    store.commit_run(succeeded(CODES[8], top1=8.0))  # a second compaction rewrites one partition
    compact(store)
    write_published_dir(root / "src", ("seg",))
    import_official(store, str(root / "src"))
    export_benchmark(store, root / "export")
    return root / "store"


def _read_all_three(path: Path) -> list[int]:
    """Row counts of ``path`` (a file, or a hive-partitioned directory) as pandas, pyarrow.dataset and DuckDB see it."""
    glob = str(path / "**" / "*.parquet") if path.is_dir() else str(path)
    return [
        len(pd.read_parquet(path)),
        ds.dataset(str(path), format="parquet", partitioning="hive").count_rows(),
        duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true)").fetchall()[0][0],
    ]


@pytest.mark.parametrize("table", ["runs", "metrics", "curves", "artifacts"])
def test_compacted_long_tables_open_as_datasets_partitioned_by_setting(store_dir, table):
    store = Store.open(str(store_dir))
    expected = len(getattr(store, f"load_{table}")(None)) if table == "runs" else sum(
        len(getattr(store, f"load_{table}")(s)) for s in ("cls_a", "cls_b"))
    assert _read_all_three(store_dir / "tables" / table) == [expected] * 3
    frame = pd.read_parquet(store_dir / "tables" / table)
    assert set(frame["setting"].astype(str)) == {"cls_a", "cls_b"}  # the partition key comes back as a column


def test_results_architectures_imports_and_exports_open_everywhere(store_dir):
    for setting in ("cls_a", "cls_b"):
        assert _read_all_three(store_dir / "tables" / "results" / f"setting={setting}") == [7 if setting == "cls_a" else 6] * 3
    assert _read_all_three(store_dir / "tables" / "architectures")[0] == 8
    for path in (store_dir / "imports").glob("*.parquet"):
        assert len(set(_read_all_three(path))) == 1
    for path in (store_dir.parent / "export").glob("*.parquet"):
        assert len(set(_read_all_three(path))) == 1
