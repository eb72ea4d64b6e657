"""The Cityscapes and HMDB51 readers: label mapping, split parsing, short-clip dropping, clear errors."""

from __future__ import annotations

import shutil

import pytest
import torch
from torchvision.io import ImageReadMode

from bench.errors import BenchError
from tasks.data.cityscapes import IGNORE_INDEX, LABEL_TO_TRAIN, scan_cityscapes, train_id_lut
from tasks.data.hmdb51 import UnreadableVideo, load_hmdb51, make_hmdb51_manifests
from tasks.data.imagenet import DataLayoutError
from tasks.segmentation.data import CityscapesPairs, SegAugmentConfig, read_label_png, read_png
from tasks.segmentation.metrics import confusion, seg_metrics
from tasks.video.data import ClipConfig, VideoAugmentConfig, VideoClips
from tests.tasks.conftest import job_of, toy_spec


def test_label_ids_map_to_19_train_ids_and_the_rest_is_ignored(toy_root):
    lut = train_id_lut()
    assert sorted(int(lut[i]) for i in LABEL_TO_TRAIN) == list(range(19))
    assert sum(int(v) != IGNORE_INDEX for v in lut) == 19
    root = toy_root / "cityscapes"
    pairs = scan_cityscapes(root, "val")
    ids = read_label_png(root / pairs[0].label)
    _, label = CityscapesPairs(root, pairs, SegAugmentConfig())[0]
    assert torch.equal(label, lut[ids.long()])
    assert (label[ids == 0] == IGNORE_INDEX).all() and (label[ids == 26] == 13).all()


def test_training_crops_have_the_crop_size_and_keep_ignored_pixels(toy_root):
    root = toy_root / "cityscapes"
    cfg = SegAugmentConfig(base_size=(64, 128), crop_size=(48, 96), ratio_range=(0.5, 0.5))
    image, label = CityscapesPairs(root, scan_cityscapes(root, "train"), cfg)[(0, 123)]
    assert image.shape == (3, 48, 96) and label.shape == (48, 96)
    assert (label == IGNORE_INDEX).any()  # a half-size image is padded with ignored pixels
    again = CityscapesPairs(root, scan_cityscapes(root, "train"), cfg)[(0, 123)]
    assert torch.equal(again[0], image)  # the sample's seed fixes its augmentation


def test_seg_metrics_skip_absent_classes():
    pred = torch.tensor([0, 0, 1, 1, 2])
    target = torch.tensor([0, 1, 1, 1, IGNORE_INDEX])
    m = seg_metrics(confusion(pred, target, 19, IGNORE_INDEX))
    assert m["aAcc"] == pytest.approx(75.0)
    assert m["mIoU"] == pytest.approx(100 * (0.5 + 2 / 3) / 2)  # class 2 is neither in truth nor in valid predictions


def test_cityscapes_layout_errors(toy_root, tmp_path):
    with pytest.raises(DataLayoutError, match="gtFine"):
        (tmp_path / "leftImg8bit" / "train").mkdir(parents=True)
        scan_cityscapes(tmp_path, "train")
    copy = tmp_path / "cs"
    shutil.copytree(toy_root / "cityscapes", copy)
    next((copy / "gtFine" / "train").rglob("*_labelIds.png")).unlink()
    with pytest.raises(DataLayoutError, match="no label file"):
        scan_cityscapes(copy, "train")


def test_hmdb_split_drops_short_clips_and_counts_them(toy_root):
    split = load_hmdb51(toy_root / "hmdb51", "toy", 1, min_frames=8)
    assert len(split.classes) == 4
    assert split.listed == {"train": 36, "test": 16}
    assert split.dropped == {"train": 4, "test": 0}
    assert len(split.train) == 32 and all(c.frames == 16 for c in split.train)
    clips = VideoClips(toy_root / "hmdb51", split.train, ClipConfig(4, 2), VideoAugmentConfig(resize_shorter=40, crop_size=32))
    clip, label = clips[(0, 5)]
    assert clip.shape == (3, 4, 32, 32) and clip.dtype == torch.uint8 and label == split.train[0].label


def test_hmdb_errors_missing_and_unreadable(toy_root, tmp_path):
    copy = tmp_path / "hmdb"
    shutil.copytree(toy_root / "hmdb51", copy)
    with pytest.raises(DataLayoutError, match="split files"):
        make_hmdb51_manifests(copy, (2,))
    victim = next(copy.glob("move_up/*clip00.avi"))
    victim.write_bytes(b"not a video")
    with pytest.raises(UnreadableVideo, match="clip00"):
        make_hmdb51_manifests(copy)
    victim.unlink()
    with pytest.raises(DataLayoutError, match="missing"):
        make_hmdb51_manifests(copy)


def test_unreadable_image_fails_the_job_with_its_path(toy_root, tmp_path):
    copy = tmp_path / "imagenet"
    shutil.copytree(toy_root / "imagenet", copy)
    spec = toy_spec("cls_a", tmp_path, tmp_path / "work")  # data root = tmp_path/imagenet (the copy)
    victim = copy / next(l.split("\t")[1] for l in (copy / "manifests" / "toy-cls-a.tsv").read_text().splitlines()
                         if l.startswith("train\t"))
    size = victim.stat().st_size
    victim.write_bytes(b"\0" * size)  # same size: passes the size check, cannot be decoded
    with pytest.raises(BenchError, match=victim.name):
        job_of("cls_a")(spec)


@pytest.mark.parametrize(
    "override, message",
    [
        ("task.runtime.batch_size=1000", "larger than the training set"),
        ("task.optim.name=rmsprop", "optim.name"),
        ("+task.optim.lr_typo=1", "lr_typo"),
        ("task.num_classes=7", "num_classes"),
    ],
)
def test_bad_recipes_are_refused_with_the_key_named(toy_root, tmp_path, override, message):
    with pytest.raises(BenchError, match=message):
        job_of("cls_a")(toy_spec("cls_a", toy_root, tmp_path, overrides=(override,)))


def test_batch_that_does_not_split_over_devices_is_refused(toy_root, tmp_path):
    spec = toy_spec("cls_a", toy_root, tmp_path, overrides=("task.runtime.batch_size=15",), devices=("cpu", "cpu"))
    with pytest.raises(BenchError, match="cannot be split evenly over the job's 2 devices"):
        job_of("cls_a")(spec)


def test_missing_real_dataset_root_is_a_clear_error(tmp_path):
    from bench.training import parse_train
    from tasks import TASKS
    from tests.tasks.conftest import TINY, compose_train

    cfg = compose_train(["task=seg", f"code={TINY}", "store=unused", f"data.roots.cityscapes={tmp_path / 'none'}"])
    with pytest.raises(BenchError, match="does not exist"):
        parse_train(cfg, TASKS)
    cfg = compose_train(["task=seg", f"code={TINY}", "store=unused", "data.roots.cityscapes=null"])
    with pytest.raises(BenchError, match="CITYSCAPES_ROOT"):
        parse_train(cfg, TASKS)


@pytest.mark.parametrize("size", [("0", "32"), ("16", "-8")])
def test_resize_tool_refuses_a_size_below_one_pixel(toy_root, tmp_path, capsys, size):
    from tasks.segmentation.resize import main as resize_main
    from tasks.segmentation.resize import resize_cityscapes

    with pytest.raises(SystemExit) as exited:
        resize_main([str(toy_root / "cityscapes"), str(tmp_path / "small"), "--size", *size])
    assert exited.value.code == 2 and "argument --size: " in capsys.readouterr().err
    with pytest.raises(BenchError, match=r"size (height|width)=-?\d+ is invalid; valid is an integer >= 1"):
        resize_cityscapes(toy_root / "cityscapes", tmp_path / "small", tuple(map(int, size)))
    assert not (tmp_path / "small").exists()


def test_resize_tool_makes_the_4x_layout(toy_root, tmp_path):
    from tasks.segmentation.resize import main as resize_main

    assert resize_main([str(toy_root / "cityscapes"), str(tmp_path / "small"), "--size", "16", "32"]) == 0
    pairs = scan_cityscapes(tmp_path / "small", "train")
    assert len(pairs) == len(scan_cityscapes(toy_root / "cityscapes", "train"))
    image = read_png(tmp_path / "small" / pairs[0].image, ImageReadMode.RGB)
    label = read_label_png(tmp_path / "small" / pairs[0].label)
    assert image.shape == (3, 16, 32) and label.shape == (16, 32)
    assert set(label.unique().tolist()) <= {0, 7, 8, 11, 21, 23, 24, 26}  # nearest: no invented ids
