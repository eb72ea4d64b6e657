"""import-official on damaged or odd source folders: one line naming the file, and nothing created."""

from __future__ import annotations

import importlib.util
import json
import math
import pickle
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from bench.errors import CodeError, DataError
from bench.store import Store
from bench.store.official import import_official
from tests.store.official_fixtures import mr_rows, nb201_rows, write_published_dir

REPO = Path(__file__).resolve().parents[2]


def _export_main():
    spec = importlib.util.spec_from_file_location("launch_export", REPO / "launch" / "export.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _import_cli(src: Path, store: Path, capsys) -> tuple[int, str, str]:
    code = _export_main()(["import-official", str(src), "--store", str(store)])
    out, err = capsys.readouterr()
    return code, out, err


def test_truncated_pickle_is_one_line_naming_it_and_creates_no_store(tmp_path, capsys):
    paths = write_published_dir(tmp_path / "src", ("cls_a", "seg"))
    data = paths["seg"].read_bytes()
    paths["seg"].write_bytes(data[: len(data) // 2])  # an interrupted download
    code, _, err = _import_cli(tmp_path / "src", tmp_path / "store", capsys)
    assert code == 2
    assert err.count("\n") == 1 and str(paths["seg"]) in err and "truncated" in err, err
    assert not (tmp_path / "store").exists()


def test_folder_with_nothing_importable_creates_no_store(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "notes.pkl").write_bytes(pickle.dumps([1]))
    code, _, err = _import_cli(tmp_path / "src", tmp_path / "store", capsys)
    assert code == 2 and "no published pickles" in err and "notes.pkl" in err
    assert not (tmp_path / "store").exists()


def test_apple_double_files_are_neither_imported_nor_listed(tmp_path, capsys):
    write_published_dir(tmp_path / "src", ("seg",))
    for name in ("._seg.pkl", "._nb201_test.pkl", ".hidden/cls-50-1000.pkl"):
        (tmp_path / "src" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "src" / name).write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    code, out, err = _import_cli(tmp_path / "src", tmp_path / "store", capsys)
    assert code == 0, err
    assert "seg: 30 architectures" in out and "._" not in out and ".hidden" not in out


@pytest.mark.parametrize("value", [math.inf, -math.inf, np.float32("-inf"), np.array(np.inf)])
def test_infinite_metric_is_refused_naming_file_row_code_key_and_value(tmp_path, capsys, value):
    rows = mr_rows("seg")
    rows[4]["mIoU"] = value
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "seg.pkl").write_bytes(pickle.dumps(rows, protocol=5))
    code, _, err = _import_cli(tmp_path / "src", tmp_path / "store", capsys)
    assert code == 2 and err.count("\n") == 1
    expected = "seg.pkl row 4 (code " in err and " mIoU=" in err and "is not finite" in err and "inf" in err
    assert expected, err
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("nan", [math.nan, np.float32("nan"), np.array(np.nan)])
def test_nan_is_read_as_not_measured_and_missing_values_are_counted_per_metric(tmp_path, capsys, nan):
    """pandas writes a missing value as NaN: the row stays, that value is null, and the import says how many."""
    rows = mr_rows("seg")
    rows[4]["mIoU"] = nan
    rows[7]["mIoU"] = nan
    rows[7]["mAcc"] = nan
    rows[2]["flops"] = nan  # a missing cost: the closed form fills it in, as for an absent key
    for row in rows:
        row["cyclist"] = nan  # a pandas column of a metric never measured: no column of nothing
        row["aAcc"] = None  # ... but the setting's own metric stays a column, empty or not
    rows[9]["mIoU"] = None  # counted with the NaNs: both are "not measured" ...
    del rows[11]["mIoU"]  # ... and so is a key a row lacks
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "seg.pkl").write_bytes(pickle.dumps(rows, protocol=5))
    code, out, err = _import_cli(tmp_path / "src", tmp_path / "store", capsys)
    assert code == 0, err
    # aAcc, empty in every row, is a column of nulls but not "missing here and there": the count is of the rest
    assert "values not measured (None, NaN or absent): {'mAcc': 1, 'mIoU': 4}" in out, out
    assert "keys with no value in any row not imported: ['cyclist']" in out, out
    assert "1 rows had no flops/params (computed from the code)" in out, out
    store = Store.open(str(tmp_path / "store"))
    path, _ = store.imports()["seg"]
    table = pq.read_table(tmp_path / "store" / path)  # as a user reads it, with pyarrow
    assert table.num_rows == len(rows)
    miou = table.column("mIoU").to_pylist()
    assert miou[4] is None and miou[7] is None and miou[3] == pytest.approx(float(rows[3]["mIoU"]))
    assert table.column("mAcc").null_count == 1 and all(g is not None for g in table.column("gflops").to_pylist())
    assert json.loads(table.schema.metadata[b"bench.missing_values"]) == {"mAcc": 1, "mIoU": 4}
    assert table.column("aAcc").null_count == len(rows)
    assert "cyclist" not in table.column_names and json.loads(table.schema.metadata[b"bench.empty_keys"]) == ["cyclist"]


@pytest.mark.parametrize(
    "damage, error, message",
    [
        (lambda rows: rows[2].update(params=math.inf), DataError, "row 2 .* params=inf is not finite"),
        (lambda rows: rows[2].update(flops=-1.0), DataError, "row 2 .* flops=-1.0 is negative"),
        (lambda rows: rows[1].update(car={"bev": {"hard": math.inf}}), DataError, "row 1 .* car_bev_hard=inf is not"),
        (lambda rows: rows[3].update(embedding=3), CodeError, "row 3: embedding=3 \\(int\\) is not a sequence"),
    ],
)
def test_other_bad_numbers_in_a_published_row(tmp_path, damage, error, message):
    rows = mr_rows("det3d")
    damage(rows)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "3ddet.pkl").write_bytes(pickle.dumps(rows))
    store = Store.open(str(tmp_path / "store"))
    with pytest.raises(error, match=message):
        import_official(store, str(tmp_path / "src"))
    assert store.imports() == {}


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda rows: rows[0].update(Acc=-math.inf), r"nb201\.pkl row 0 \(ops [0-4_]+\) Acc=-inf is not finite"),
        (lambda rows: rows[1].update(Flops=math.inf), r"row 1 \(ops [0-4_]+\) Flops=inf is not finite"),
        (lambda rows: rows[2].update(embedding=["a"] * 30), r"row 2: embedding=\['a'.* is not a list of numbers"),
    ],
)
def test_bad_numbers_in_nb201_rows(tmp_path, damage, message):
    rows = nb201_rows()
    damage(rows)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "nb201.pkl").write_bytes(pickle.dumps(rows))
    with pytest.raises((CodeError, DataError), match=message):
        import_official(Store.open(str(tmp_path / "store")), str(tmp_path / "src"))


def test_a_pickle_that_is_not_a_list_of_rows_is_named(tmp_path):
    (tmp_path / "src").mkdir()
    for content, kind in (({"top1": 1.0}, "got dict"), ([], "an empty list"), ([1, 2], "non-dicts")):
        (tmp_path / "src" / "cls-50-1000.pkl").write_bytes(pickle.dumps(content))
        with pytest.raises(DataError, match=f"cls-50-1000.pkl: expected a non-empty list of dicts.*{kind}"):
            import_official(Store.open(str(tmp_path / "store")), str(tmp_path / "src"))


def test_a_full_disk_during_import_says_exactly_what_was_imported(tmp_path, monkeypatch, capsys):
    import errno
    import runpy
    import sys

    from bench.store.fs import StoreFS

    write_published_dir(tmp_path / "src", ("cls_a", "seg"))
    real_write = StoreFS.write_new

    def full_after_one_import(self, rel, data):
        if rel.startswith("imports/") and any(p.name.endswith(".parquet") for p in (tmp_path / "s" / "imports").glob("*")):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, rel, data)

    monkeypatch.setattr(StoreFS, "write_new", full_after_one_import)
    monkeypatch.setattr(sys, "argv", ["export.py", "import-official", str(tmp_path / "src"), "--store", str(tmp_path / "s")])
    with pytest.raises(SystemExit) as ended:
        runpy.run_path(str(Path(__file__).resolve().parents[2] / "launch" / "export.py"), run_name="__main__")
    assert ended.value.code == 1  # the environment, not bad input
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: [Errno 28] No space left on device while importing")
    assert "imported: ['cls_a']" in line and "not imported: ['seg'" in line


def test_keys_named_like_the_stores_own_columns_are_named_and_left_out(tmp_path, capsys):
    """A file made from an export (pandas to_dict of the Parquet) carries arch_id, code, gflops, a code field,
    provenance...: as metrics they made a second column of the same name, a table nothing could read."""
    rows = mr_rows("seg")
    for i, row in enumerate(rows):
        row.update(gflops=7.0, arch_id=float(i), i1=3, n_seeds=1, provenance=2.0, data_kind="imported")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "seg.pkl").write_bytes(pickle.dumps(rows))
    code, out, err = _import_cli(tmp_path / "src", tmp_path / "store", capsys)
    assert code == 0, err
    named = "['arch_id', 'data_kind', 'gflops', 'i1', 'n_seeds', 'provenance']"
    assert f"keys named like the store's own columns not imported (the store derives them): {named}" in out, out
    assert "text keys" not in out  # data_kind is named once, as the store's, not as a text key
    store = Store.open(str(tmp_path / "store"))
    path, _ = store.imports()["seg"]
    table = pq.read_table(tmp_path / "store" / path)  # readable: each column once
    assert len(table.column_names) == len(set(table.column_names))
    assert table.column("gflops").to_pylist()[0] != 7.0 and table.column("arch_id").to_pylist()[0] != "0.0"
    assert _export_main()(["stats", "--store", str(tmp_path / "store")]) == 0


@pytest.mark.parametrize("narrow", [
    lambda v: np.array(np.float32(v)),  # 0-d float32 arrays
    lambda v: float(np.float16(v)),  # float16 data widened by pandas' to_dict
    lambda v: np.float16(v),
])
def test_costs_that_passed_through_a_narrow_float_are_compared_at_its_precision(tmp_path, narrow):
    rows = mr_rows("seg")
    for row in rows:
        row["flops"], row["params"] = narrow(row["flops"]), narrow(row["params"])
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "seg.pkl").write_bytes(pickle.dumps(rows))
    (report,) = import_official(Store.open(str(tmp_path / "store")), str(tmp_path / "src"))
    assert report.cost_mismatches == []


def test_an_int_too_large_for_a_float_is_one_clear_error(tmp_path, capsys):
    rows = mr_rows("seg")
    rows[2]["mIoU"] = 10**400
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "seg.pkl").write_bytes(pickle.dumps(rows))
    code, _, err = _import_cli(tmp_path / "src", tmp_path / "store", capsys)
    assert code == 2 and err.count("\n") == 1 and "row 2" in err and "is too large for a float" in err, err


def test_an_nb201_row_without_acc_is_not_measured_like_any_metric(tmp_path):
    rows = nb201_rows()
    del rows[1]["Acc"]
    rows[2]["note"], rows[3]["note"] = "a text key", np.array(np.nan)  # a 0-d NaN is a gap of a text key too
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "nb201.pkl").write_bytes(pickle.dumps(rows))
    (report,) = import_official(Store.open(str(tmp_path / "store")), str(tmp_path / "src"))
    assert report.missing_values == {"Acc": 1} and report.text_keys == ("note",)
    assert report.table.column("Acc").to_pylist()[1] is None
