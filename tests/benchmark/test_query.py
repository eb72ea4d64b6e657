"""bench.Benchmark on a real store: final, per-seed and intermediate values, code forms, errors, laziness."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.benchmark import ArchNotFound, Benchmark, Result
from bench.code import FIELD_CHOICES, ArchCode
from bench.errors import BenchError, CodeError
from bench.nb201 import cell_arch_id
from bench.store import Store
from tests.benchmark.helpers import EPOCHS, ITERS, build_store


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("query"))


@pytest.fixture
def bench(built):
    return Benchmark.open(built.uri)


def _real(built, setting):
    codes = sorted({r.code for r in built.runs if r.setting == setting and not r.synthetic})
    return [(code, built.runs_of(code, setting)) for code in codes]


@pytest.mark.parametrize("setting", ["cls_a", "seg"])
def test_final_value_is_the_mean_over_seeds_with_the_mean_wall_time(built, bench, setting):
    view = Store.open(built.uri).load_setting(setting).to_pandas().set_index("arch_id")
    for code, runs in _real(built, setting):
        result = bench.query(code, setting)
        main = "top1" if setting == "cls_a" else "mIoU"
        assert result.value == pytest.approx(np.mean([r.metrics[main] for r in runs]))
        assert result.value == pytest.approx(view.loc[result.arch_id, main])  # the store's own view agrees
        assert result.train_seconds == pytest.approx(np.mean([r.wall_seconds for r in runs]))
        assert (result.n_seeds, result.seed, result.step, result.data_kind) == (len(runs), None, None, "real")
        assert not result.time_estimated and result.code == code and result.metric == main


def test_one_seed_gives_that_runs_value_and_time(built, bench):
    for code, runs in _real(built, "cls_a"):
        for run in runs:
            result = bench.query(code, "cls_a", metric="top5", seed=run.seed)
            assert (result.value, result.train_seconds) == (run.metrics["top5"], run.wall_seconds)
            assert (result.seed, result.n_seeds) == (run.seed, 1)
    code, runs = _real(built, "cls_a")[0]
    assert bench.seeds(code, "cls_a") == [r.seed for r in runs]
    assert bench.seeds(ArchCode.from_row(built.published["cls_a"][-1]), "cls_a") == []
    with pytest.raises(BenchError, match=rf"has seeds \[{', '.join(str(r.seed) for r in runs)}\]; seed=7 is not"):
        bench.query(code, "cls_a", seed=7)


@pytest.mark.parametrize("setting, steps", [("cls_a", EPOCHS), ("seg", ITERS)])
def test_at_an_evaluation_gives_the_curve_value_and_a_scaled_time(built, bench, setting, steps):
    metric = "top1" if setting == "cls_a" else "mIoU"
    for code, runs in _real(built, setting):
        for step in steps:
            result = bench.query(code, setting, at=step)
            # cls_a's recipe says 100 epochs (last evaluation: 75); seg's says nothing: its last evaluated step counts.
            expected_time = np.mean([r.wall_seconds * step / (r.schedule_length or steps[-1]) for r in runs])
            assert result.value == pytest.approx(np.mean([r.curve[(metric, step)] for r in runs]))
            assert result.train_seconds == pytest.approx(expected_time) and result.time_estimated
            assert (result.step, result.step_unit) == (step, "iter" if setting == "seg" else "epoch")
            one = bench.query(code, setting, at=step, seed=runs[-1].seed)
            assert one.value == runs[-1].curve[(metric, step)] and one.n_seeds == 1
    info = bench.info(setting)
    assert info.steps == steps and info.step_unit == ("iter" if setting == "seg" else "epoch")


def test_a_step_never_evaluated_names_the_evaluated_steps(built, bench):
    code, _ = _real(built, "cls_a")[0]
    with pytest.raises(BenchError, match=r"at=30 is not an evaluated step .* evaluated steps are \[25, 50, 75\]"):
        bench.query(code, "cls_a", at=30)
    with pytest.raises(BenchError, match="at=-1 is invalid"):
        bench.query(code, "cls_a", at=-1)


def test_published_rows_give_the_published_value_and_say_they_have_no_curves_or_seeds(built, bench):
    row = built.published["seg"][-1]
    code = ArchCode.from_row(row).to_string()
    result = bench.query(code, "seg", metric="mAcc")
    assert (result.value, result.data_kind) == (row["mAcc"], "imported")
    assert result.train_seconds is None and result.n_seeds is None
    with pytest.raises(BenchError, match="published data has no intermediate evaluations"):
        bench.query(code, "seg", at=5000)
    with pytest.raises(BenchError, match="one value per architecture, not one per seed"):
        bench.query(code, "seg", seed=0)
    assert bench.info("nb201").step_unit is None and bench.info("nb201").steps == ()


def test_every_form_of_a_code_gives_the_same_answer(built, bench):
    code, _ = _real(built, "cls_a")[0]
    parsed = ArchCode.from_string(code)
    answers = {bench.query(form, "cls_a") for form in (code, f" {code} ", parsed, parsed.to_list(), parsed.arch_id)}
    assert len(answers) == 1
    cell = bench.codes("nb201")[3]
    ops = [int(v) for v in cell.split("_")]
    answers = {bench.query(form, "nb201") for form in (cell, ops, cell_arch_id(ops))}
    assert len(answers) == 1 and answers.pop().code == cell
    with pytest.raises(CodeError, match="ArchCode cannot name a NAS-Bench-201 cell"):
        bench.query(parsed, "nb201")
    with pytest.raises(CodeError, match="valid is 6 op indices"):
        bench.query("3_1_0_9_3_2", "nb201")


def test_errors_say_what_was_wrong_and_what_is_valid(built, bench):
    absent = ArchCode.from_list([8] * 2 + [1, 1, 8, 1, 1, 1, 8, 8, 1, 1, 1, 1, 8, 8, 8, 1, 1, 1, 1, 1, 8, 8, 8, 8, 8])
    with pytest.raises(ArchNotFound, match=rf"{absent} \(arch_id {absent.arch_id}\) is not in setting 'seg'"):
        bench.query(absent, "seg")
    with pytest.raises(CodeError, match="c1_1=9 is out of range"):
        bench.query("16_16-1_1_1_9-1_2_1_1_16_16-1_3_1_1_1_16_16_16-1_4_1_1_1_1_16_16_16_16-16", "seg")
    with pytest.raises(BenchError, match=r"metric 'top9' is not one of setting 'cls_a''s: \['top1', 'top5'\]"):
        bench.query(bench.codes("cls_a")[0], "cls_a", metric="top9")
    with pytest.raises(BenchError, match="video"):
        bench.query(absent, "no_such_setting")
    with pytest.raises(BenchError, match=r"'video' has no data .* settings with data: \['cls_a', 'seg', 'nb201'\]"):
        bench.query(absent, "video")


def test_synthetic_rows_are_hidden_unless_asked_for(built, bench):
    synthetic = [r for r in built.runs if r.synthetic]
    shared, only = synthetic  # the first also has a published row, the second has nothing else
    published = built.published_row(shared.code, "cls_a")
    assert bench.query(shared.code, "cls_a").value == published["top1"]  # the published row shows instead
    with pytest.raises(ArchNotFound):
        bench.query(only.code, "cls_a")
    everything = Benchmark.open(built.uri, include_synthetic=True)
    # Asked for, a toy number fills in where there is nothing else; it never stands in for a published one.
    assert (everything.query(shared.code, "cls_a").value, everything.query(shared.code, "cls_a").data_kind) == (
        published["top1"], "imported")
    result = everything.query(only.code, "cls_a")
    assert (result.value, result.data_kind) == (only.metrics["top1"], "synthetic")
    assert result.train_seconds == only.wall_seconds
    assert dict(everything.info("cls_a").data_kinds)["synthetic"] == 1
    assert "synthetic" not in dict(bench.info("cls_a").data_kinds)


def test_query_settings_is_one_architecture_on_every_task(built, bench):
    code = next(c for c, _ in _real(built, "seg") if built.runs_of(c, "cls_a"))
    results = bench.query_settings(code)
    assert list(results) == ["cls_a", "seg"]
    assert results["seg"] == bench.query(code, "seg") and results["cls_a"].metric == "top1"
    assert list(bench.query_settings(built.cls_a_only)) == ["cls_a"]
    with pytest.raises(ArchNotFound, match="not in setting 'seg'"):
        bench.query_settings(built.cls_a_only, ["cls_a", "seg"])
    assert list(bench.query_settings(bench.codes("nb201")[0])) == ["nb201"]
    with pytest.raises(CodeError):
        bench.query_settings("not-a-code")


def test_sample_codes_and_info_are_what_a_search_needs(built, bench):
    codes = bench.codes("cls_a")
    assert [ArchCode.from_string(c).arch_id for c in codes] == sorted(ArchCode.from_string(c).arch_id for c in codes)
    sample = bench.sample(10, "cls_a", seed=3)
    assert sample == bench.sample(10, "cls_a", seed=3) and len(set(sample)) == 10 and set(sample) <= set(codes)
    assert sample != bench.sample(10, "cls_a", seed=4)
    assert sorted(bench.sample(len(codes), "cls_a", seed=0)) == sorted(codes)
    with pytest.raises(BenchError, match=f"n=999 is more than the {len(codes)} architectures"):
        bench.sample(999, "cls_a")
    info = bench.info("cls_a")
    assert (info.n_archs, info.metrics, info.main_metric) == (len(codes), ("top1", "top5"), "top1")
    assert info.space == "nasbench_mr"
    assert bench.has(codes[0], "cls_a") and not bench.has(built.cls_a_only, "seg")
    with pytest.raises(CodeError):
        bench.has(codes[0], "nb201")


def test_neighbours_of_a_mutated_code_lead_back_to_the_original(bench):
    for code in bench.codes("cls_a")[:5]:
        values = ArchCode.from_string(code).to_list()
        choices = FIELD_CHOICES["c1_1"]
        index = list(FIELD_CHOICES).index("c1_1")
        values[index] = choices[(choices.index(values[index]) + 1) % len(choices)]
        mutated = ArchCode.from_list(values)
        assert bench.neighbours(mutated, "cls_a", k=1) == [code]
        nearest = bench.neighbours(code, "cls_a", k=3)
        assert code not in nearest and len(nearest) == 3
    cell = bench.codes("nb201")[0]
    ops = [int(v) for v in cell.split("_")]
    ops[2] = (ops[2] + 1) % 5
    assert bench.neighbours("_".join(map(str, ops)), "nb201", k=1)[0] in bench.codes("nb201")


def test_opening_reads_nothing_and_a_query_reads_only_its_setting(built, monkeypatch):
    calls = []
    for method in ("load_setting", "load_runs", "load_metrics", "load_curves"):
        original = getattr(Store, method)
        monkeypatch.setattr(Store, method, lambda self, setting, *a, _o=original, _m=method, **k:
                            calls.append((_m, setting)) or _o(self, setting, *a, **k))
    bench = Benchmark.open(built.uri)
    assert calls == []
    code, _ = _real(built, "cls_a")[0]
    bench.query(code, "cls_a")
    assert {s for _, s in calls} == {"cls_a"} and not any(m == "load_curves" for m, _ in calls)
    before = len(calls)
    bench.query(code, "cls_a", at=50)
    assert calls[before:] == [("load_curves", "cls_a")]
    bench.query(code, "cls_a", at=75, seed=0)
    bench.query(code, "cls_a", metric="top5")
    assert len(calls) == before + 1


def test_a_result_is_a_frozen_value(bench):
    result = bench.query(bench.codes("seg")[0], "seg")
    assert isinstance(result, Result)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.value = 0.0  # type: ignore[misc]


def test_a_published_row_without_the_metric_says_not_measured_and_what_it_has(tmp_path):
    """A NaN (or None) in the published file: the query names what the architecture does have."""
    import pickle

    from bench.store.official import import_official
    from tests.store.official_fixtures import mr_rows

    rows = mr_rows("seg")
    rows[3]["mIoU"], rows[3]["aAcc"] = float("nan"), None
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "seg.pkl").write_bytes(pickle.dumps(rows))
    store = Store.open(str(tmp_path / "store"))
    import_official(store, str(tmp_path / "src"))
    bench = Benchmark.open(store.uri)
    code = ArchCode.from_row(rows[3]).to_string()
    with pytest.raises(BenchError, match=r"has no 'mIoU' value in setting 'seg' \(imported data: not measured\); "
                                         r"it has values for \['mAcc'\]"):
        bench.query(code, "seg")
    assert bench.query(code, "seg", metric="mAcc").value == pytest.approx(float(rows[3]["mAcc"]))
    # What a search draws and steps to answers a query: the unmeasured architecture is listed, never offered.
    info = bench.info("seg")
    assert (info.n_archs, info.n_measured) == (len(rows), len(rows) - 1) and code in bench.codes("seg")
    everything = bench.sample(len(rows) - 1, "seg", seed=0)
    assert code not in everything and all(bench.query(c, "seg").value is not None for c in everything)
    with pytest.raises(BenchError, match=rf"n={len(rows)} is more than the {len(rows) - 1} architectures of 'seg' "
                                         r"with a measured 'mIoU' \(and 1 without one\)"):
        bench.sample(len(rows), "seg")
    assert code not in bench.neighbours(code, "seg", k=len(rows))
    assert len(bench.neighbours(code, "seg", k=len(rows))) == len(rows) - 1
    assert code not in bench.neighbours(bench.codes("seg")[0], "seg", k=len(rows))
    with pytest.raises(ArchNotFound, match=r"in none of the settings \['seg'\] \(stored in \['seg'\], without a value"):
        bench.query_settings(code)
