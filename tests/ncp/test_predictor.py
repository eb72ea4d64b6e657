import json

import numpy as np
import pytest
import torch

from bench.errors import BenchError
from bench.ncp.data import SettingTable, split_by_arch_id
from bench.ncp.predictor import Predictor, PredictorConfig, train_predictor
from bench.ncp.synthetic import synthetic_frame
from tests.ncp.helpers import shared_table

FAST = PredictorConfig(epochs=30, n_train=400, n_val=100)


@pytest.fixture(scope="module")
def table():
    return SettingTable.from_frame(synthetic_frame(500, seed=2, setting="seg"), "seg")


def test_learns_the_synthetic_metric_far_better_than_the_mean(table):
    p = train_predictor(table, config=FAST)
    truth = table.metrics["mIoU"][np.isin(table.arch_ids, p.split.val_ids)]
    baseline_mae = np.abs(truth - truth.mean()).mean()
    assert set(p.report) == {"mIoU", "mAcc", "aAcc"}
    assert p.report["mIoU"]["mae"] < 0.5 * baseline_mae
    assert p.report["mIoU"]["spearman_rho"] > 0.8 and p.report["mIoU"]["n"] == 100


def test_split_is_seeded_disjoint_and_the_same_for_every_setting():
    cls = SettingTable.from_frame(synthetic_frame(300, seed=0, setting="cls_a"), "cls_a")
    seg_frame = synthetic_frame(300, seed=0, setting="seg").sample(frac=1.0, random_state=1)  # other row order
    seg = SettingTable.from_frame(seg_frame, "seg")
    a = split_by_arch_id(cls.arch_ids, seed=7, n_train=200, n_val=50)
    b = split_by_arch_id(seg.arch_ids, seed=7, n_train=200, n_val=50)
    assert a == b and not set(a.train_ids) & set(a.val_ids)
    assert (len(a.train_ids), len(a.val_ids)) == (200, 50)
    assert split_by_arch_id(cls.arch_ids, seed=8, n_train=200, n_val=50).val_ids != a.val_ids


def test_small_tables_keep_the_train_validation_ratio():
    s = split_by_arch_id(np.array([f"id{i}" for i in range(250)]), seed=0)  # 2000/500 asked, 250 given
    assert (len(s.train_ids), len(s.val_ids)) == (200, 50)


def test_training_is_deterministic_for_a_seed(table):
    a, b = train_predictor(table, config=FAST), train_predictor(table, config=FAST)
    assert np.array_equal(a.predict(table.x)["mIoU"], b.predict(table.x)["mIoU"])
    c = train_predictor(table, config=PredictorConfig(epochs=30, n_train=400, n_val=100, seed=1))
    assert not np.array_equal(a.predict(table.x)["mIoU"], c.predict(table.x)["mIoU"])


def test_save_and_load_give_identical_predictions(table, tmp_path):
    p = train_predictor(table, ("mIoU",), FAST)
    p.save(tmp_path)
    meta = json.loads((tmp_path / "seg.json").read_text())
    assert meta["split"]["val_ids"] == list(p.split.val_ids) and meta["metrics"] == ["mIoU"]
    q = Predictor.load(tmp_path, "seg")
    assert np.array_equal(p.predict(table.x)["mIoU"], q.predict(table.x)["mIoU"])
    assert q.report == p.report
    with pytest.raises(BenchError, match="no saved predictor for 'video'"):
        Predictor.load(tmp_path, "video")


def test_rows_missing_the_main_metric_are_left_out_and_too_few_rows_is_an_error():
    frame = synthetic_frame(150, seed=3)
    frame.loc[frame.index[:60], "top1"] = np.nan  # 90 measured rows left
    table = SettingTable.from_frame(frame, "cls_a")
    with pytest.raises(BenchError, match="90 rows with 'top1' measured .* needs at least 100"):
        train_predictor(table, config=FAST)
    p = train_predictor(table, config=PredictorConfig(epochs=2, min_rows=50, n_train=70, n_val=20))
    assert not set(p.split.val_ids) & set(table.arch_ids[:60])


def test_missing_secondary_metrics_are_masked_not_fatal():
    frame = synthetic_frame(300, seed=4)
    frame.loc[frame.index[::3], "top5"] = np.nan  # a third of top5 missing
    table = SettingTable.from_frame(frame, "cls_a")
    p = train_predictor(table, config=PredictorConfig(epochs=20, n_train=240, n_val=60))
    assert p.metrics == ("top1", "top5") and p.report["top5"]["n"] < p.report["top1"]["n"] == 60
    assert np.isfinite(p.report["top5"]["mae"]) and p.report["top5"]["spearman_rho"] > 0.5
    frame["top5"] = np.nan  # a metric never measured is simply not predicted
    assert train_predictor(SettingTable.from_frame(frame, "cls_a"), config=FAST).metrics == ("top1",)


@pytest.mark.parametrize("bad, message", [
    (dict(setting="imagenet"), "unknown setting 'imagenet'"),
    (dict(drop="gflops"), "lacks columns \\['gflops'\\]"),
    (dict(drop="top1"), "no main metric column 'top1'"),
])
def test_bad_tables_give_clear_errors(bad, message):
    frame = synthetic_frame(20)
    if "drop" in bad:
        frame = frame.drop(columns=[bad["drop"]])
    with pytest.raises(BenchError, match=message):
        SettingTable.from_frame(frame, bad.get("setting", "cls_a"))


def test_unknown_metric_and_bad_config_are_errors(table):
    with pytest.raises(BenchError, match="has no metric 'top1'"):
        train_predictor(table, ("top1",), FAST)
    with pytest.raises(BenchError, match="dropout"):
        PredictorConfig(dropout=1.5)


@pytest.mark.slow
def test_published_cls_a_predictor_is_close_to_the_paper():
    """Paper: validation L1 0.56 on Cls-A. The full recipe (200 epochs) on the shared pickle."""
    table = shared_table("cls-50-1000.pkl", "cls_a")
    p = train_predictor(table, ("top1",))
    assert (len(p.split.train_ids), len(p.split.val_ids)) == (2000, 500)
    assert p.report["top1"]["mae"] < 0.8
    assert p.report["top1"]["kendall_tau"] > 0.6  # measured 0.67-0.68 with seeds 0 and 1


def test_bit_dropout_keeps_half_and_rescales():
    from bench.ncp.predictor import BitDropout

    layer = BitDropout(0.5)
    out = layer(torch.ones(200, 256))
    assert set(out.unique().tolist()) == {0.0, 2.0} and abs((out > 0).float().mean().item() - 0.5) < 0.01
    layer.eval()
    assert torch.equal(layer(torch.ones(3, 4)), torch.ones(3, 4))
