import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from bench.errors import BenchError
from bench.ncp.data import SettingTable
from bench.ncp.model import BitDropout, MetricNet
from bench.ncp.predictor import Predictor, PredictorConfig, metric_groups, train_predictor
from bench.ncp.recipe import AUTHORS, DEFAULT, FEATURES, overrides_of, recipe_named
from bench.ncp.splits import arch_id_folds, authors_split
from bench.ncp.synthetic import synthetic_frame, tiny_config
from tests.ncp.helpers import shared_table

FAST = tiny_config(epochs=30, members=1, n_train=400, n_val=100)


@pytest.fixture(scope="module")
def table():
    return SettingTable.from_frame(synthetic_frame(500, seed=2, setting="seg"), "seg")


def test_learns_the_synthetic_metric_far_better_than_the_mean(table):
    p = train_predictor(table, config=FAST)
    truth = table.metrics["mIoU"][np.isin(table.arch_ids, p.split.val_ids)]
    baseline_mae = np.abs(truth - truth.mean()).mean()
    assert p.metrics == ("mIoU", "mAcc", "aAcc", "gflops", "params_m")  # the authors' groups, cost targets last
    assert p.report["mIoU"]["mae"] < 0.5 * baseline_mae
    assert p.report["mIoU"]["spearman_rho"] > 0.8 and p.report["mIoU"]["n"] == 100
    assert 1 <= p.report["mIoU"]["best_epoch"] <= 30


def test_cross_validation_folds_predict_every_row_once_from_models_that_never_saw_it(table):
    folds = arch_id_folds(table.arch_ids, seed=3, k=4)
    assert sorted(a for f in folds for a in f.val_ids) == sorted(map(str, table.arch_ids))
    assert all(not set(f.train_ids) & set(f.val_ids) for f in folds)
    p = train_predictor(table, config=FAST, split=folds[1])  # the explicit split replaces FAST's 400 / 100
    assert p.split == folds[1] and p.report["mIoU"]["n"] == len(folds[1].val_ids) == 125
    _, val_rows = folds[1].rows(table.arch_ids)
    truth = table.metrics["mIoU"][val_rows]
    assert p.report["mIoU"]["mae"] == pytest.approx(np.abs(p.predict(table.x[val_rows])["mIoU"] - truth).mean(), rel=1e-5)
    with pytest.raises(BenchError, match="2 <= folds <= 500"):
        arch_id_folds(table.arch_ids, seed=0, k=1)


def test_the_authors_network_is_the_released_layout():
    net = MetricNet(27, (1, 2, 2), (0.5, 0.5, 0.0), AUTHORS)
    trunk = [type(m).__name__ for m in net.shared]
    branch = [type(m).__name__ for m in net.branches[0]]
    assert trunk == ["Linear", "BatchNorm1d", "SiLU", "BitDropout"] and net.shared[3].p == 0.5
    assert branch == ["Linear", "BatchNorm1d", "SiLU", "BitDropout", "Linear"]
    assert [b[3].p for b in net.branches] == [0.5, 0.5, 0.0] and [b[4].out_features for b in net.branches] == [1, 2, 2]
    assert (AUTHORS.loss, AUTHORS.stats, AUTHORS.epochs, AUTHORS.batch_size, AUTHORS.lr, AUTHORS.members) == (
        "smooth_l1", "all", 200, 128, 0.01, 1)
    assert (AUTHORS.pct_start, AUTHORS.div_factor, AUTHORS.base_momentum, AUTHORS.max_momentum) == (0.3, 10.0, 0.85, 0.95)
    assert metric_groups(("top1", "top5", "gflops", "params_m")) == (("main", 1), ("others", 1), ("cost", 2))


def test_authors_statistics_use_all_rows_and_default_only_training_rows(table):
    config = tiny_config(epochs=1, members=1, recipe="authors", n_train=400, n_val=100)
    authors = train_predictor(table, config=config)
    assert authors.target_mean[0] == pytest.approx(np.mean(table.metrics["mIoU"]))
    ours = train_predictor(table, config=tiny_config(epochs=1, members=1, n_train=400, n_val=100))
    train = np.isin(table.arch_ids, ours.split.train_ids)
    assert ours.target_mean[0] == pytest.approx(np.mean(table.metrics["mIoU"][train]))


def test_the_authors_split_is_numpy_seed_233_over_the_published_row_order():
    frame = synthetic_frame(50, seed=5)
    frame["official_index"] = np.arange(50)
    expected = np.random.RandomState(233).permutation(50)  # numpy.random.seed(233); permutation(50)
    shuffled = frame.sample(frac=1.0, random_state=3)  # the store's row order does not matter, the published one does
    split = authors_split(shuffled["official_index"].to_numpy(), shuffled["arch_id"].to_numpy())
    assert split.val_ids == tuple(frame["arch_id"][expected[:10]]) and len(split.train_ids) == 40  # ceil(0.2 * 50)
    assert split.train_ids == tuple(frame["arch_id"][expected[10:]])
    table = SettingTable.from_frame(shuffled, "cls_a")
    p = train_predictor(table, config=PredictorConfig(recipe_named("authors", {"epochs": 2}), split="authors", min_rows=10))
    assert p.split == split and p.report["top1"]["n"] == 10
    partial = table.subset(np.arange(49))  # one published row missing: the permutation would shift
    with pytest.raises(BenchError, match="needs setting 'cls_a' as published"):
        train_predictor(partial, config=PredictorConfig(AUTHORS, split="authors", min_rows=10))


def test_training_is_deterministic_for_a_seed(table):
    a, b = train_predictor(table, config=FAST), train_predictor(table, config=FAST)
    assert np.array_equal(a.predict(table.x)["mIoU"], b.predict(table.x)["mIoU"])
    c = train_predictor(table, config=tiny_config(epochs=30, members=1, seed=1, n_train=400, n_val=100))
    assert not np.array_equal(a.predict(table.x)["mIoU"], c.predict(table.x)["mIoU"])


def test_a_long_training_says_which_epoch_it_reached_and_learns_the_same(table, monkeypatch):
    """The heartbeat (every HEARTBEAT_S seconds; every epoch here) names the setting and epoch, and changes nothing."""
    from bench.ncp import training

    config = tiny_config(epochs=3, members=1, n_train=400, n_val=100)
    quiet = train_predictor(table, config=config)
    monkeypatch.setattr(training, "HEARTBEAT_S", 0.0)
    lines = []
    told = train_predictor(table, config=config, progress=lines.append)
    beats = [line for line in lines if " epoch " in line]
    assert [b.split(" after ")[0] for b in beats] == ["seg: epoch 1/3", "seg: epoch 2/3"], lines
    assert np.array_equal(quiet.predict(table.x)["mIoU"], told.predict(table.x)["mIoU"])


def test_members_are_averaged(table):
    p = train_predictor(table, config=tiny_config(epochs=5, members=3, n_train=400, n_val=100))
    assert len(p.members) == 3
    x = torch.from_numpy(table.x[:7].astype(np.float64))
    each = torch.stack([net(p.features(x).float()) for net in p.members])
    assert not torch.allclose(each[0], each[1])
    assert np.allclose(p.predict(table.x[:7])["mIoU"], each.mean(0)[:, 0].numpy() * p.target_std[0] + p.target_mean[0],
                       atol=1e-4)


def test_mix_trains_members_with_l1_and_smooth_l1_in_turn(table):
    def config(loss: str) -> PredictorConfig:
        return PredictorConfig(recipe_named("default", {"epochs": 5, "members": 3, "loss": loss}), n_train=400, n_val=100)

    mix, l1 = train_predictor(table, config=config("mix")), train_predictor(table, config=config("l1"))
    assert mix.recipe.member_losses() == ("l1", "smooth_l1", "l1") and mix.loss == "mix"
    r = mix.features(torch.from_numpy(table.x[:50].astype(np.float64))).float()
    same = [torch.allclose(a(r), b(r), atol=1e-5) for a, b in zip(mix.members, l1.members)]
    assert same == [True, False, True]  # the L1 members are the L1 predictor's; the smooth-L1 one is not


def test_save_and_load_give_identical_predictions(table, tmp_path):
    p = train_predictor(table, ("mIoU",), tiny_config(epochs=5, members=2, n_train=400, n_val=100))
    p.save(tmp_path)
    meta = json.loads((tmp_path / "seg.json").read_text())
    assert meta["split"]["val_ids"] == list(p.split.val_ids) and meta["metrics"] == ["mIoU"]
    assert meta["recipe"]["name"] == "default" and meta["split"]["kind"] == "arch_id"
    q = Predictor.load(tmp_path, "seg")
    assert np.array_equal(p.predict(table.x)["mIoU"], q.predict(table.x)["mIoU"])
    assert q.report == p.report and q.recipe == p.recipe and len(q.members) == 2
    with pytest.raises(BenchError, match="no saved predictor for 'video'"):
        Predictor.load(tmp_path, "video")
    # A predictor saved before recipes named their space reads as made for its own space.
    meta["recipe"].pop("space")
    (tmp_path / "seg.json").write_text(json.dumps(meta))
    assert Predictor.load(tmp_path, "seg").recipe == p.recipe


def test_a_missing_main_metric_is_masked_and_too_few_measured_rows_is_an_error():
    frame = synthetic_frame(150, seed=3)
    frame.loc[frame.index[:60], "top1"] = np.nan  # top1 on 90 rows; top5 and the costs on all 150
    table = SettingTable.from_frame(frame, "cls_a")
    counts = r"\{'top1': 90, 'top5': 150, 'gflops': 150, 'params_m': 150\} of 150 rows per metric"
    with pytest.raises(BenchError, match=counts + "; training needs at least 100 per metric"):
        train_predictor(table, config=FAST)
    p = train_predictor(table, config=PredictorConfig(recipe_named("default", {"epochs": 2, "members": 1}),
                                                      min_rows=50, n_train=120, n_val=30))
    missing = set(table.arch_ids[:60])
    in_train, in_val = len(missing & set(p.split.train_ids)), len(missing & set(p.split.val_ids))
    assert in_train > 0 and in_val > 0
    assert (p.report["top5"]["n_train"], p.report["top5"]["n"]) == (120, 30)  # rows without top1 still train top5
    assert (p.report["top1"]["n_train"], p.report["top1"]["n"]) == (120 - in_train, 30 - in_val)
    assert np.isfinite(p.report["top1"]["mae"]) and np.isfinite(p.report["top1"]["mae_best_epoch"])


def test_missing_secondary_metrics_are_masked_not_fatal():
    frame = synthetic_frame(300, seed=4)
    frame.loc[frame.index[::3], "top5"] = np.nan  # a third of top5 missing
    table = SettingTable.from_frame(frame, "cls_a")
    p = train_predictor(table, config=tiny_config(20, members=1, n_train=240, n_val=60))
    assert p.metrics[:2] == ("top1", "top5") and p.report["top5"]["n"] < p.report["top1"]["n"] == 60
    assert np.isfinite(p.report["top5"]["mae"]) and p.report["top5"]["spearman_rho"] > 0.5
    frame["top5"] = np.nan  # a metric never measured is simply not predicted
    assert train_predictor(SettingTable.from_frame(frame, "cls_a"), config=FAST).metrics[:2] == ("top1", "gflops")


@pytest.mark.parametrize("bad, message", [
    (dict(setting="imagenet"), "unknown setting 'imagenet'"),
    (dict(drop="gflops"), "lacks columns \\['gflops'\\]"),
    (dict(drop="top1"), "no main metric column 'top1'"),
    (dict(inf="top1"), "top1=inf"),
])
def test_bad_tables_give_clear_errors(bad, message):
    frame = synthetic_frame(20)
    if "drop" in bad:
        frame = frame.drop(columns=[bad["drop"]])
    if "inf" in bad:
        frame.loc[3, bad["inf"]] = np.inf
    with pytest.raises(BenchError, match=message):
        SettingTable.from_frame(frame, bad.get("setting", "cls_a"))


@pytest.mark.parametrize("overrides, message", [
    ({"dropout": 1.5}, "predictor.dropout=1.5"),
    ({"epochs": 0}, "predictor.epochs=0"),
    ({"features": ("log_flops",)}, "features"),
    ({"lr": float("nan")}, "predictor.lr=nan"),
    ({"activation_fn": "relu"}, "unknown predictor recipe field"),
])
def test_bad_recipes_are_clear_errors(overrides, message):
    with pytest.raises(BenchError, match=message):
        recipe_named("default", overrides)


def test_unknown_metric_and_bad_split_options_are_errors(table):
    with pytest.raises(BenchError, match="has no metric 'top1'"):
        train_predictor(table, ("top1",), FAST)
    with pytest.raises(BenchError, match="predictor.n_train sizes the arch_id split"):
        PredictorConfig(DEFAULT, split="authors", n_train=100)


def test_a_named_recipe_is_made_for_its_space():
    on_nb201 = recipe_named("default", space="nb201")
    assert (DEFAULT.features, DEFAULT.loss, DEFAULT.members) == (FEATURES, "mix", 4)
    assert (on_nb201.features, on_nb201.loss, on_nb201.members) == (("code",), "l1", 2)  # what its search was checked with
    assert DEFAULT.for_space("nb201") == on_nb201 and DEFAULT.for_space("nasbench_mr") is DEFAULT
    assert AUTHORS.for_space("nb201") == replace(AUTHORS, space="nb201")
    # What the user set is kept on either space, also where it equals the other space's default.
    assert recipe_named("default", {"members": 4, "loss": "mix"}, space="nb201").members == 4
    assert recipe_named("default", {"members": 4, "loss": "mix"}, space="nb201").loss == "mix"
    assert recipe_named("default", {"loss": "auto", "epochs": 7}).for_space("nb201").loss == "auto"
    assert recipe_named("default", {"members": 6}).for_space("nb201").members == 6
    assert overrides_of(on_nb201) == {} and overrides_of(recipe_named("default", {"members": 4}, space="nb201")) == {"members": 4}
    with pytest.raises(BenchError, match="invalid on space 'nb201'.*only feature is 'code'"):
        recipe_named("default", {"features": ("code", "log_flops")}, space="nb201")
    with pytest.raises(BenchError, match="space 'nb301' is invalid; valid spaces are"):
        recipe_named("default", space="nb301")


@pytest.mark.slow
def test_the_authors_recipe_on_the_authors_split_reproduces_the_released_code():
    """SPEC 5: the released recipe on the released split: final-epoch validation MAE about 0.54 on Cls-A."""
    table = shared_table("cls-50-1000.pkl", "cls_a")
    p = train_predictor(table, config=PredictorConfig(AUTHORS, split="authors"))
    assert (len(p.split.train_ids), len(p.split.val_ids)) == (2005, 502)
    assert p.report["top1"]["mae"] == pytest.approx(0.54, rel=0.06)
    assert p.report["top1"]["mae_best_epoch"] <= p.report["top1"]["mae"] + 0.01


def test_bit_dropout_keeps_half_and_rescales():
    layer = BitDropout(0.5)
    out = layer(torch.ones(200, 256))
    assert set(out.unique().tolist()) == {0.0, 2.0} and abs((out > 0).float().mean().item() - 0.5) < 0.01
    layer.eval()
    assert torch.equal(layer(torch.ones(3, 4)), torch.ones(3, 4))


def test_a_table_smaller_than_the_split_says_how_the_split_shrank():
    table = SettingTable.from_frame(synthetic_frame(300, seed=1), "cls_a")
    lines: list[str] = []
    p = train_predictor(table, config=PredictorConfig(recipe_named("default", {"epochs": 1, "members": 1})),
                        progress=lines.append)
    assert (len(p.split.train_ids), len(p.split.val_ids)) == (240, 60)
    assert lines[0] == ("cls_a: 300 usable rows, fewer than n_train + n_val = 2000 + 500; split arch_id keeps their "
                        "ratio: 240 training / 60 validation rows")
    lines.clear()
    train_predictor(table, config=PredictorConfig(recipe_named("default", {"epochs": 1, "members": 1}), n_train=240,
                                                  n_val=60), progress=lines.append)
    assert not any("usable rows" in line for line in lines)  # the sizes asked for: nothing to say
