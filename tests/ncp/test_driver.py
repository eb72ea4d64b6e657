"""The search command's body on the real composed config, with synthetic tables."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from bench.code import ArchCode
from bench.errors import BenchError
from bench.ncp.driver import run as run_options
from bench.ncp.options import SearchOptions, parse_options
from bench.ncp.synthetic import synthetic_frame, synthetic_nb201_frame

CONF = Path(__file__).resolve().parents[2] / "conf"
SMALL = ["predictor.epochs=15", "predictor.members=1", "predictor.n_train=320", "predictor.n_val=80",
         "propagation.iterations=20", "nb201.iterations=20", "baseline.neural_samples=500"]


def config(tmp_path: Path, *overrides: str) -> SearchOptions:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("search", overrides=[f"store={tmp_path / 'store'}", f"out={tmp_path / 'out'}", *SMALL, *overrides])
    return parse_options(OmegaConf.to_container(cfg, resolve=True))


def run(options: SearchOptions, load, lines: list | None = None):
    return run_options(options, lambda setting, data="benchmark": load(setting), (lines if lines is not None else []).append)


def frames(setting: str):
    if setting == "nb201":
        return synthetic_nb201_frame(400, seed=1)
    if setting == "video":
        raise BenchError("setting 'video' is not in the store 'test'; it holds ['cls_a', 'seg', 'nb201']")
    return synthetic_frame(400, seed=0, setting=setting)


def test_single_task_continuous_writes_result_trajectory_and_figure(tmp_path):
    result = run(config(tmp_path, "predictor.settings=[seg]", "strategy=continuous", "lambda=0.5"), frames)
    out = tmp_path / "out"
    on_disk = json.loads((out / "result.json").read_text())
    assert on_disk["code"] == result["code"] and ArchCode.from_string(on_disk["code"])
    for key in ("predicted", "params_m", "gflops", "table_best_predicted", "nearest"):
        assert key in on_disk
    assert set(on_disk["predicted"]) == {"mIoU", "mAcc", "aAcc"}
    assert {"code", "distance", "true", "percentile", "gflops"} <= set(on_disk["nearest"])
    assert "gflops" in on_disk["table_best_predicted"] and "predicted" in on_disk["table_best_predicted"]
    assert on_disk["in_store"] is False and "note" in on_disk
    trajectory = pq.read_table(out / "trajectory.parquet").to_pandas()
    assert len(trajectory) == 21 and {"iteration", "c4_4", "pred_seg_mIoU", "gflops"} <= set(trajectory.columns)
    assert (out / "trajectory.png").stat().st_size > 10_000
    assert (out / "predictors" / "seg.pt").exists()


def test_found_code_in_store_reports_true_value_and_percentile(tmp_path):
    frame = synthetic_frame(400, seed=0, setting="seg")
    cfg = config(tmp_path, "predictor.settings=[seg]", "strategy=netadapt", "propagation.iterations=0",
                 f"init={frame['code'][5]}")
    result = run(cfg, lambda s: frame)
    assert result["code"] == frame["code"][5] and result["in_store"]
    assert result["true"]["mIoU"] == pytest.approx(frame["mIoU"][5])
    assert result["percentile"] == pytest.approx(100 * (frame["mIoU"] < frame["mIoU"][5]).mean())
    assert result["nearest"]["distance"] == 0.0


def test_multi_task_reports_per_setting(tmp_path):
    result = run(config(tmp_path, "predictor.settings=[cls_a,seg]", "predictor.weights=[1,2]"), frames)
    assert set(result["predicted"]) == {"cls_a", "seg"} and set(result["nearest"]) == {"cls_a", "seg"}
    assert result["weights"] == [1.0, 2.0]


def test_transfer_and_batch_of_starts(tmp_path):
    starts = synthetic_frame(3, seed=5)["code"].tolist()
    result = run(config(tmp_path, f"init=[{','.join(starts)}]", "strategy=wta"), frames)
    assert result["starts"] == starts and len(result["candidates"]) == 3
    trajectory = pq.read_table(tmp_path / "out" / "trajectory.parquet").to_pandas()
    assert sorted(trajectory["start"].unique()) == [0, 1, 2]


def test_predictor_report_and_reuse(tmp_path):
    report = run(config(tmp_path, "mode=predictor_report", "predictor.settings=[cls_a]"), frames)
    on_disk = json.loads((tmp_path / "out" / "predictor.json").read_text())
    assert on_disk == report and {"mae", "mae_best_epoch", "kendall_tau", "spearman_rho"} <= set(report["cls_a"]["top1"])
    assert report["cls_a"]["top1"]["paper_mae"] == 0.56 and report["cls_a"]["top1"]["split"] == "arch_id"
    load = f"predictor.load_dir={tmp_path / 'out' / 'predictors'}"
    reused = run(config(tmp_path / "again", "predictor.settings=[cls_a]", load), frames)
    assert reused["predictor_validation"] == report  # the same predictor, and result.json says which (recipe, split, seed)
    # Options that describe another predictor are refused rather than silently ignored.
    with pytest.raises(BenchError, match="holds cls_a's predictor with recipe 'default' with .*'epochs': 15.* but this "
                                         "request asks for recipe 'default' with .*'epochs': 1[,}]"):
        run(config(tmp_path / "other", "predictor.settings=[cls_a]", load, "predictor.epochs=1"), frames)
    with pytest.raises(BenchError, match="with split arch_id, seed 0, but this request asks for split authors, seed 3"):
        run(config(tmp_path / "other", "predictor.settings=[cls_a]", load, "predictor.split=authors", "predictor.seed=3",
                   "predictor.n_train=null", "predictor.n_val=null"),
            frames)
    with pytest.raises(BenchError, match="with split sizes 320 / 80, but this request asks for split sizes 200 / 50"):
        run(config(tmp_path / "other", "predictor.settings=[cls_a]", load, "predictor.n_train=200",
                   "predictor.n_val=50"), frames)
    # Trained on another table (another store's rows): its report would describe rows this store does not hold.
    with pytest.raises(BenchError, match=r"trained and validated on 400 architectures, \d+ of which this store's cls_a "
                                         r"table \(400 rows\) does not hold"):
        run(config(tmp_path / "other", "predictor.settings=[cls_a]", load),
            lambda setting: synthetic_frame(400, seed=9, setting=setting))
    assert not (tmp_path / "other").exists()  # a refused request writes nothing


def test_nb201_mode(tmp_path):
    result = run(config(tmp_path, "space=nb201"), frames)
    assert len(result["ops"]) == 6 and sum(result["onehot"]) == 6
    assert {"Acc", "mflops"} == set(result["predicted"]) and "table_best_measured" in result
    assert ("true" in result) and (result["true"] is None) == (not result["in_store"])


@pytest.mark.parametrize("overrides, members, loss, listed", [
    ([], 2, "l1", {"epochs": 15}),  # the default recipe made for NAS-Bench-201: what its search was checked with
    (["predictor.members=4", "predictor.loss=mix"], 4, "mix", {"loss": "mix", "epochs": 15, "members": 4}),  # set: kept
])
def test_nb201_trains_the_recipe_made_for_its_space(tmp_path, overrides, members, loss, listed):
    lines = []
    run(config(tmp_path, "space=nb201", "predictor.members=null", *overrides), frames, lines)
    saved = json.loads((tmp_path / "out" / "predictors" / "nb201.json").read_text())
    assert (saved["recipe"]["members"], saved["recipe"]["loss"], saved["recipe"]["space"]) == (members, loss, "nb201")
    assert saved["recipe"]["features"] == ["code"]
    assert any(f"training the 'default' predictor with {listed} ({members} x 15 epochs" in line for line in lines), lines


@pytest.mark.parametrize("overrides, message", [
    (["predictor.settings=[imagenet]"], "unknown setting 'imagenet'"),
    (["predictor.settings=[video]"], "not in the store"),
    (["init=64_64-2_1_2_64"], "init='64_64-2_1_2_64' is not a valid start code"),
    (["strategy=evolution"], "strategy='evolution' is invalid"),
    (["mode=train"], "mode='train' is invalid"),
    (["lambda=nan"], "lambda=nan must be a finite number"),
    (["predictor.lr=inf"], "predictor.lr=inf must be a finite number"),
    (["+predictor.hiden=3"], "unknown key predictor.hiden"),
    (["init=123"], "init=123 was read as a number"),
    (["predictor.weights=[1,nan]", "predictor.settings=[seg]"], r"predictor.weights\[1\]=nan must be a finite number"),
    (["predictor.split=authors", "predictor.settings=[seg]", "predictor.n_train=null", "predictor.n_val=null"],
     "needs setting 'seg' as published"),
    (["predictor.split=authors"], "predictor.n_train sizes the arch_id split"),
    (["space=nb201", "predictor.settings=[seg]"], "space=nb201 searches the nb201 table only"),
    (["space=nb201", "strategy=wta"], "strategy='wta' applies to nasbench_mr only"),
    (["space=nb201", "init=best:seg"], "init='best:seg' applies to nasbench_mr only"),
    (["space=nb201", "nb201.readout_every=0"], "nb201.readout_every=0"),
    (["space=nb201", "nb201.step_size=0"], "nb201.step_size=0.0 is invalid; valid is a finite number > 0"),
    (["predictor.settings=[cls_a,seg]", "predictor.weights=[1]"], r"predictor.weights=\[1.0\] gives 1 weights for 2 settings"),
    (["predictor.settings=[cls_a,seg]", "predictor.weights=[1,-1]"], "predictor.weights=.* valid are non-negative weights"),
    (["propagation.step_size=-1"], "propagation.step_size=-1.0 is invalid; valid is a finite number > 0"),
    (["predictor.settings=[]"], r"predictor.settings=\[\] is empty; list at least one setting"),
    (["init=best:imagenet"], "init='best:imagenet': unknown setting 'imagenet'"),
    (["space=nb201", "predictor.features=[code,log_flops]"], "invalid on space 'nb201'.*only feature is 'code'"),
    (["predictor.settings=[seg]", "predictor.min_rows=1000"], "needs at least 1000"),
])
def test_bad_requests_are_clear_errors(tmp_path, overrides, message):
    with pytest.raises(BenchError, match=message):
        run(config(tmp_path, *overrides), frames)
    assert not (tmp_path / "out").exists()  # refused before any predictor was trained, and nothing written


@pytest.mark.parametrize("out", ["a_file", "a_file/under"])
def test_an_out_that_cannot_be_a_directory_is_refused_before_training(tmp_path, out):
    (tmp_path / "a_file").write_text("keep me\n")
    options = config(tmp_path, "predictor.settings=[seg]")
    options = type(options)(**{**options.__dict__, "out": str(tmp_path / out)})
    with pytest.raises(BenchError, match=f"out='{tmp_path / out}' cannot be a directory.*valid is a directory"):
        run(options, frames)
    assert (tmp_path / "a_file").read_text() == "keep me\n"


def test_transfer_from_the_best_code_of_another_setting(tmp_path):
    result = run(config(tmp_path, "predictor.settings=[seg]", "init=best:cls_a", "strategy=netadapt",
                        "propagation.iterations=0"), frames)
    cls = synthetic_frame(400, seed=0, setting="cls_a")
    assert result["starts"] == [cls["code"][cls["top1"].idxmax()]] == [result["code"]]


def test_many_random_starts_propagate_as_one_batch(tmp_path):
    result = run(config(tmp_path, "predictor.settings=[cls_a]", "init=random:50", "seed=3"), frames)
    codes = [c["code"] for c in result["candidates"]]
    assert len(result["starts"]) == 50 and 1 <= len(codes) <= 10 and len(set(codes)) == len(codes)  # distinct
    assert codes[0] == result["code"]
    assert result["objective_J"] >= max(c["objective_J"] for c in result["candidates"])
    with pytest.raises(BenchError, match="random:<n> needs an integer"):
        run(config(tmp_path, "init=random:x"), frames)
