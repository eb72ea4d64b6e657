"""``predictor.loss=auto``: the loss is chosen on the training rows only, and the members train with it."""

import json

import numpy as np
import pytest
import torch

from bench.errors import BenchError
from bench.ncp.data import SettingTable
from bench.ncp.loss_choice import CANDIDATE_LOSSES
from bench.ncp.model import MetricNet
from bench.ncp.predictor import Predictor, PredictorConfig, train_predictor
from bench.ncp.recipe import recipe_named
from bench.ncp.results import predictor_document
from bench.ncp.synthetic import synthetic_frame
from bench.ncp.training import TrainingData, train_members

SIZES = {"n_train": 240, "n_val": 60}


def auto_config(**overrides) -> PredictorConfig:
    return PredictorConfig(recipe_named("default", {"epochs": 8, "members": 2, "loss": "auto", **overrides}), **SIZES)


@pytest.fixture(scope="module")
def frame():
    return synthetic_frame(300, seed=5, setting="seg")


def test_auto_picks_the_loss_with_the_lower_inner_mae_and_trains_every_member_with_it(frame):
    table = SettingTable.from_frame(frame, "seg")
    p = train_predictor(table, config=auto_config())
    choice = p.loss_choice
    assert set(choice.inner_mae) == set(CANDIDATE_LOSSES) and all(np.isfinite(list(choice.inner_mae.values())))
    assert choice.loss == min(CANDIDATE_LOSSES, key=choice.inner_mae.get) and p.loss == choice.loss
    assert (choice.n_inner_train, choice.n_inner_val) == (192, 48)  # 80 / 20 of the 240 training rows
    explicit = train_predictor(table, config=auto_config(loss=choice.loss))
    assert np.array_equal(p.predict(table.x)["mIoU"], explicit.predict(table.x)["mIoU"])  # same members, same loss
    other = next(loss for loss in CANDIDATE_LOSSES if loss != choice.loss)
    assert not np.array_equal(p.predict(table.x)["mIoU"], train_predictor(table, config=auto_config(loss=other)).predict(table.x)["mIoU"])


def test_the_validation_rows_never_influence_the_choice(frame):
    table = SettingTable.from_frame(frame, "seg")
    p = train_predictor(table, config=auto_config())
    poisoned = frame.copy()
    val = poisoned["arch_id"].isin(p.split.val_ids)
    poisoned.loc[val, ["mIoU", "mAcc", "aAcc"]] = poisoned.loc[val, ["mIoU", "mAcc", "aAcc"]] * 0.5 + 40.0
    q = train_predictor(SettingTable.from_frame(poisoned, "seg"), config=auto_config())
    assert q.loss_choice == p.loss_choice  # the inner MAEs themselves, not only the winner
    assert q.report["mIoU"]["mae"] != p.report["mIoU"]["mae"]  # ... while the validation report did see the change


def test_the_choice_is_saved_loaded_and_reported(frame, tmp_path):
    table = SettingTable.from_frame(frame, "seg")
    p = train_predictor(table, config=auto_config(members=1))
    p.save(tmp_path)
    q = Predictor.load(tmp_path, "seg")
    assert q.loss_choice == p.loss_choice and q.recipe.loss == "auto"
    entry = predictor_document([q])["seg"]["mIoU"]
    assert entry["loss"] == p.loss_choice.loss and entry["loss_inner_mae"] == p.loss_choice.inner_mae
    json.dumps(entry, allow_nan=False)
    fixed = train_predictor(table, config=auto_config(members=1, loss="l1"))
    assert fixed.loss_choice is None and predictor_document([fixed])["seg"]["mIoU"]["loss"] == "l1"
    assert "loss_inner_mae" not in predictor_document([fixed])["seg"]["mIoU"]


def test_an_unknown_loss_is_refused_and_auto_never_reaches_a_training_loop(frame):
    with pytest.raises(BenchError, match=r"predictor.loss='huber' is invalid; valid are \['smooth_l1', 'l1', 'auto', 'mix'\]"):
        recipe_named("default", {"loss": "huber"})
    table = SettingTable.from_frame(frame, "seg")
    x = table.x.astype(np.float32)
    data = TrainingData(torch.from_numpy(x), torch.zeros(len(x), 1), np.arange(200), np.arange(200, 300),
                        torch.zeros(x.shape[1]), torch.ones(x.shape[1]))
    recipe = recipe_named("default", {"loss": "auto", "epochs": 1})
    with pytest.raises(ValueError, match="needs one concrete loss"):
        train_members(lambda: MetricNet(x.shape[1], (1,), (0.0,), recipe), recipe, data, [0])
