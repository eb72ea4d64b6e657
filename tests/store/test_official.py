"""Import of the published pickles, and export back to their layout with identical values."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from bench.code import ArchCode
from bench.cost import cost
from bench.errors import BenchError, CodeError
from bench.safe_pickle import UnsafePickleError, load_untrusted
from bench.settings import get_setting, setting_names

SETTINGS = setting_names(space="nasbench_mr")
from bench.nb201 import cell_arch_id
from bench.store import Store
from bench.store.export import export_pickles
from bench.store.official import import_official
from tests.store.helpers import SHARED
from tests.store.official_fixtures import N_ROWS, mr_rows, write_published_dir


def _same_rows(original: list[dict], exported: list[dict]) -> None:
    assert len(original) == len(exported)
    for a, b in zip(original, exported):
        assert list(a) == list(b), "key order differs"
        for key in a:
            if isinstance(a[key], np.ndarray):
                assert b[key].dtype == a[key].dtype and np.array_equal(a[key], b[key])
            else:
                assert a[key] == b[key], key


def test_every_official_name_in_both_layouts_imports_and_exports_back_identically(tmp_path):
    nested = ("cls_b", "seg_4x", "video_p")
    paths = write_published_dir(tmp_path / "src", SETTINGS, nested)
    store = Store.open(str(tmp_path / "store"))
    reports = {r.setting: r for r in import_official(store, str(tmp_path / "src"))}
    assert store.settings() == [*SETTINGS, "nb201"]
    assert all(not r.cost_mismatches for r in reports.values())
    seg = store.load_setting("seg").to_pandas()
    rows = load_untrusted(paths["seg"])
    assert list(seg["mIoU"]) == [r["mIoU"] for r in rows] and set(seg["data_kind"]) == {"imported"}
    assert list(seg["arch_id"]) == [ArchCode.from_row(r).arch_id for r in rows]
    assert store.load_runs().num_rows == 0  # imported rows have no runs behind them
    export_pickles(store, tmp_path / "back")
    for setting, path in paths.items():
        name = get_setting(setting).official_name
        _same_rows(load_untrusted(path), load_untrusted(tmp_path / "back" / f"{name}.pkl"))


def test_det3d_bare_levels_become_car_3d_names_and_other_keys_are_kept(tmp_path):
    write_published_dir(tmp_path / "src", ("det3d",))
    store = Store.open(str(tmp_path / "store"))
    (report,) = [r for r in import_official(store, str(tmp_path / "src")) if r.setting == "det3d"]
    assert report.renamed == {"easy": "car_3d_easy", "moderate": "car_3d_moderate", "hard": "car_3d_hard"}
    table = store.load_setting("det3d")
    assert table["car_3d_moderate"].to_pylist() == [r["moderate"] for r in mr_rows("det3d")]
    assert table["pedestrian_3d_moderate"].null_count == 0
    assert table["cyclist_bev_hard"].null_count == N_ROWS  # in the paper's list, not in this file


def test_nb201_ids_hash_the_argmax_ops_and_keep_the_one_hot(tmp_path):
    paths = write_published_dir(tmp_path / "src", ())
    store = Store.open(str(tmp_path / "store"))
    import_official(store, str(tmp_path / "src"))
    table = store.load_setting("nb201")
    first = load_untrusted(paths["nb201"])[0]
    ops = first["embedding"].reshape(6, 5).argmax(axis=1).tolist()
    assert table["arch_id"][0].as_py() == cell_arch_id(ops) and table["code"][0].as_py() == "_".join(map(str, ops))
    assert np.array_equal(np.asarray(table["embedding"][0].as_py(), dtype=np.float32), first["embedding"])
    assert table["mflops"][0].as_py() == first["Flops"] and table["gflops"][0].as_py() == first["Flops"] / 1e3


class _RunsShell:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_malicious_pickle_is_refused_and_nothing_is_written(tmp_path, monkeypatch):
    write_published_dir(tmp_path / "src", ("cls_a", "seg"))
    rows = mr_rows("cls_c")
    rows[3]["top1"] = _RunsShell()
    (tmp_path / "src" / "cls-10-1000.pkl").write_bytes(pickle.dumps(rows))
    monkeypatch.chdir(tmp_path)
    store = Store.open(str(tmp_path / "store"))
    with pytest.raises(UnsafePickleError, match="posix.system|os.system"):
        import_official(store, str(tmp_path / "src"))
    assert not (tmp_path / "PWNED").exists()
    assert store.settings() == [] and store.imports() == {}


@pytest.mark.parametrize(
    "damage, error, message",
    [
        (lambda rows: rows[2].update(embedding=[7] * 27), CodeError, "row 2"),
        (lambda rows: rows[1].update(last_channel=8 if rows[1]["last_channel"] != 8 else 16), CodeError, "contradicts"),
        (lambda rows: rows[0].update(top5=[1.0, 2.0]), BenchError, "top5=\\[1.0, 2.0\\] is not a number"),
        (lambda rows: rows[0].update(top1="high"), BenchError, "top1='high' is not a number"),
        (lambda rows: rows.append({**rows[0], "top1": -1.0}), BenchError, "different results"),
        # A code as text would otherwise be split into characters ("a code has 27 integers, got 15: ['9', '6', ...]").
        (lambda rows: rows[3].update(embedding="96_128-1_1_1_48"), CodeError,
         "row 3: embedding='96_128-1_1_1_48' \\(str\\) is not a sequence"),
        (lambda rows: rows[1].update(input_channel="96_128"), CodeError, "row 1: input_channel='96_128' \\(str\\)"),
        # Text in some rows and numbers in others is not a text column: refused like any other non-number.
        (lambda rows: [r.update(extra="n/a" if i == 4 else 1.0) for i, r in enumerate(rows)], BenchError,
         "row 4 .* extra='n/a' is not a number"),
    ],
)
def test_bad_published_rows_are_refused_naming_the_row(tmp_path, damage, error, message):
    rows = mr_rows("cls_a")
    damage(rows)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "cls-50-1000.pkl").write_bytes(pickle.dumps(rows))
    store = Store.open(str(tmp_path / "store"))
    with pytest.raises(error, match=message):
        import_official(store, str(tmp_path / "src"))
    assert store.imports() == {}


def test_missing_cost_columns_are_computed_and_nested_metrics_flattened(tmp_path):
    rows = mr_rows("det3d")
    for row in rows:
        del row["flops"], row["params"]
        row["cyclist"] = {"bev": {"hard": 12.5}}
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "3ddet.pkl").write_bytes(pickle.dumps(rows))
    (report,) = import_official(Store.open(str(tmp_path / "store")), str(tmp_path / "src"))
    assert report.cost_computed == N_ROWS and report.cost_mismatches == []
    assert report.table["gflops"].to_pylist() == [cost(ArchCode.from_row(r)).gflops for r in rows]
    assert report.table["cyclist_bev_hard"].to_pylist() == [12.5] * N_ROWS


def test_two_keys_giving_one_metric_are_refused_naming_both(tmp_path):
    rows = mr_rows("det3d")  # the 3ddet layout: car 3D levels bare (easy/moderate/hard)
    rows[7]["car"] = {"3d": {"moderate": 1.0}}  # ... and the same metric nested: neither may silently win
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "3ddet.pkl").write_bytes(pickle.dumps(rows))
    store = Store.open(str(tmp_path / "store"))
    with pytest.raises(BenchError, match="row 7 .*keys 'moderate' and 'car_3d_moderate' both give the metric 'car_3d_moderate'"):
        import_official(store, str(tmp_path / "src"))
    assert store.imports() == {}


def test_a_fully_nested_det3d_file_reports_no_renames(tmp_path):
    rows = mr_rows("det3d")
    for row in rows:
        row["car"] = {"3d": {level: row.pop(level) for level in ("easy", "moderate", "hard")}}
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "3ddet.pkl").write_bytes(pickle.dumps(rows))
    (report,) = import_official(Store.open(str(tmp_path / "store")), str(tmp_path / "src"))
    assert report.renamed == {} and "renamed" not in report.describe()
    assert report.table["car_3d_moderate"].to_pylist() == [r["car"]["3d"]["moderate"] for r in rows]


def test_keys_that_are_text_in_every_row_are_kept_out_and_reported(tmp_path):
    rows = mr_rows("seg")
    for i, row in enumerate(rows):
        row["arch"] = ArchCode.from_row(row).to_string()
        # text or missing in every row: None, or NaN as pandas leaves a missing string
        row["checkpoint"] = {2: None, 3: float("nan"), 4: np.float32("nan")}.get(i, f"seg/{i}.pth")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "seg.pkl").write_bytes(pickle.dumps(rows))
    store = Store.open(str(tmp_path / "store"))
    (report,) = import_official(store, str(tmp_path / "src"))
    assert report.text_keys == ("arch", "checkpoint")
    assert "text keys not imported (not metrics): ['arch', 'checkpoint']" in report.describe()
    table = store.load_setting("seg")
    assert "arch" not in table.column_names and table["mIoU"].to_pylist() == [r["mIoU"] for r in rows]
    for row in rows:  # the setting's own metric as text is an error, even in every row
        row["mIoU"] = str(row["mIoU"])
    (tmp_path / "src" / "seg.pkl").write_bytes(pickle.dumps(rows))
    with pytest.raises(BenchError, match=f"row 0 .* mIoU='{rows[0]['mIoU']}' is not a number"):
        import_official(store, str(tmp_path / "src"), replace=True)


def test_float32_costs_match_the_closed_form_at_float32_precision(tmp_path):
    rows = mr_rows("cls_a")
    for row in rows:
        row["flops"], row["params"] = np.float32(row["flops"]), np.float32(row["params"])
    rows[5]["params"] = np.float32(rows[5]["params"] * 1.001)  # a real mismatch stays one
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "cls-50-1000.pkl").write_bytes(pickle.dumps(rows))
    (report,) = import_official(Store.open(str(tmp_path / "store")), str(tmp_path / "src"))
    assert [m["arch_id"] for m in report.cost_mismatches] == [ArchCode.from_row(rows[5]).arch_id]


def test_identical_duplicates_dropped_and_cost_mismatch_reported(tmp_path):
    rows = mr_rows("cls_a")
    rows.append(dict(rows[0]))
    rows[5]["params"] += 0.5
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "cls-50-1000.pkl").write_bytes(pickle.dumps(rows))
    (report,) = import_official(Store.open(str(tmp_path / "store")), str(tmp_path / "src"))
    assert report.duplicates_dropped == 1 and report.table.num_rows == N_ROWS
    assert [m["arch_id"] for m in report.cost_mismatches] == [ArchCode.from_row(rows[5]).arch_id]


def test_reimport_is_a_no_op_and_different_content_needs_replace(tmp_path):
    paths = write_published_dir(tmp_path / "src", ("seg",))
    store = Store.open(str(tmp_path / "store"))
    import_official(store, str(tmp_path / "src"))
    before = store.imports()
    import_official(store, str(tmp_path / "src"))
    assert store.imports() == before
    rows = load_untrusted(paths["seg"])
    rows[0]["mIoU"] = 1.0
    paths["seg"].write_bytes(pickle.dumps(rows))
    with pytest.raises(BenchError, match="replace=True"):
        import_official(store, str(tmp_path / "src"))
    import_official(store, str(tmp_path / "src"), replace=True)
    assert store.load_setting("seg")["mIoU"][0].as_py() == 1.0
    assert len(list((tmp_path / "store" / "imports" / "superseded").iterdir())) == 1  # the old table is kept


def test_the_same_rows_in_another_layout_or_encoding_are_unchanged(tmp_path):
    paths = write_published_dir(tmp_path / "src", ("seg",))
    store = Store.open(str(tmp_path / "store"))
    import_official(store, str(tmp_path / "src"))
    before = store.imports()
    rows = load_untrusted(paths["seg"])
    for row in rows:  # tuples for lists, an older pickle protocol, the folder layout
        row["embedding"] = tuple(row["embedding"])
    (tmp_path / "again" / "seg").mkdir(parents=True)
    (tmp_path / "again" / "seg" / "trainval.pkl").write_bytes(pickle.dumps(rows, protocol=2))
    (report,) = [r for r in import_official(store, str(tmp_path / "again")) if r.setting == "seg"]
    assert store.imports() == before
    assert report.describe().startswith("seg: 30 architectures from seg/trainval.pkl (unchanged: the store holds these rows")
    rows[0]["mIoU"] += 1.0
    (tmp_path / "again" / "seg" / "trainval.pkl").write_bytes(pickle.dumps(rows, protocol=2))
    with pytest.raises(BenchError, match="already imported .* with different rows"):
        import_official(store, str(tmp_path / "again"))
    assert store.imports() == before


def test_both_layouts_of_one_setting_is_an_error(tmp_path):
    write_published_dir(tmp_path / "src", ("seg",))
    write_published_dir(tmp_path / "src", ("seg",), nested=("seg",))
    with pytest.raises(BenchError, match="more than once"):
        import_official(Store.open(str(tmp_path / "store")), str(tmp_path / "src"))


SHARED_FILES = {"cls_a": "cls-50-1000.pkl", "seg": "seg.pkl", "video": "video.pkl", "nb201": "nb201_sample.pkl"}


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"published reference pickles not found at {SHARED} (../shared)")
def test_shared_published_pickles_import_and_export_back_identically(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    reports = {r.setting: r for r in import_official(store, str(SHARED))}
    assert set(SHARED_FILES) <= set(reports)
    for setting in ("cls_a", "seg", "video"):
        assert reports[setting].cost_mismatches == [], f"{setting}: published params/flops differ from bench.cost"
        assert store.load_setting(setting).num_rows == 2507
    export_pickles(store, tmp_path / "back", list(SHARED_FILES))
    for setting, name in SHARED_FILES.items():
        exported = f"{get_setting(setting).official_name}.pkl"
        _same_rows(load_untrusted(SHARED / name), load_untrusted(tmp_path / "back" / exported))


def test_export_back_keeps_the_published_key_order(tmp_path):
    rows = [{"last_channel": r["last_channel"], "hard": r["hard"], "flops": r["flops"], **r} for r in mr_rows("det3d")]
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "3ddet.pkl").write_bytes(pickle.dumps(rows))
    store = Store.open(str(tmp_path / "store"))
    import_official(store, str(tmp_path / "src"))
    export_pickles(store, tmp_path / "back")
    _same_rows(rows, load_untrusted(tmp_path / "back" / "3ddet.pkl"))


def test_a_file_without_the_main_metric_is_imported_with_a_warning(tmp_path):
    rows = mr_rows("det3d")
    for row in rows:
        row["Car_3d_moderate"] = row.pop("moderate")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "3ddet.pkl").write_bytes(pickle.dumps(rows))
    (report,) = import_official(Store.open(str(tmp_path / "store")), str(tmp_path / "src"))
    assert "WARNING: no row has the main metric 'car_3d_moderate'" in report.describe()
    assert "'Car_3d_moderate'" in report.describe()


def test_a_dirty_file_exports_back_with_every_key_and_reimports_unchanged_without_false_mismatches(tmp_path):
    """Missing values, float32 costs and a never-measured key: the exported pickle has the same keys in every
    row (None where a value is missing), and importing it again, here or into a new store, changes nothing."""
    rows = mr_rows("cls_c")
    for i, row in enumerate(rows):
        row["flops"], row["params"] = np.float32(row["flops"]), np.float32(row["params"])
        row["val_loss"] = float("nan")  # a column of nothing: not imported, so not exported either
    rows[4]["top1"], rows[6]["top5"] = float("nan"), None
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "cls-10-1000.pkl").write_bytes(pickle.dumps(rows))
    store = Store.open(str(tmp_path / "store"))
    (first,) = import_official(store, str(tmp_path / "src"))
    assert first.cost_mismatches == [] and first.missing_values == {"top1": 1, "top5": 1}
    export_pickles(store, tmp_path / "back")
    back = load_untrusted(tmp_path / "back" / "cls-10-1000.pkl")
    assert all(list(r) == list(back[0]) for r in back) and "val_loss" not in back[0]
    assert back[4]["top1"] is None and back[6]["top5"] is None and back[4]["top5"] == pytest.approx(rows[4]["top5"])
    (again,) = import_official(store, str(tmp_path / "back"))
    assert again.outcome.startswith("unchanged")
    # The exported costs are float64 holding float32 values (as pandas would widen them): still no mismatch.
    (fresh,) = import_official(Store.open(str(tmp_path / "fresh")), str(tmp_path / "back"))
    assert fresh.cost_mismatches == [] and fresh.missing_values == {"top1": 1, "top5": 1}
