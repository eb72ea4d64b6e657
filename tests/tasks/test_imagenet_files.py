"""ImageNet copies: layout problems are named, hidden files skipped, damaged images and manifests are one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from bench.errors import BenchError
from tasks.classification.data import AugmentConfig, ImageFiles, UnreadableImage
from tasks.data.files import DataLayoutError
from tasks.data.imagenet import DEVKIT, GROUND_TRUTH, META, scan_imagenet
from tasks.data.manifest import Manifest, ManifestError, select_imagenet_subset
from tasks.manifest import main as manifest_main

APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02"


@pytest.fixture()
def imagenet_copy(toy_root, tmp_path) -> Path:
    copy = tmp_path / "imagenet"
    shutil.copytree(toy_root / "imagenet", copy, ignore=shutil.ignore_patterns("manifests", ".toy-*"))
    return copy


def _to_class_folders(root: Path) -> None:
    for wnid, files in scan_imagenet(root).val.items():
        (root / "val" / wnid).mkdir()
        for rel in files:
            (root / rel).rename(root / "val" / wnid / Path(rel).name)


def test_hidden_files_are_not_images(imagenet_copy):
    expected = scan_imagenet(imagenet_copy)
    wnid = next(iter(expected.train))
    (imagenet_copy / "train" / wnid / f"._{wnid}_0.JPEG").write_bytes(APPLE_DOUBLE)
    (imagenet_copy / "train" / ".n99999999").mkdir()
    (imagenet_copy / "val" / "._ILSVRC2012_val_00000001.JPEG").write_bytes(APPLE_DOUBLE)  # would break 1:1 labels
    (imagenet_copy / "val" / ".DS_Store").write_bytes(APPLE_DOUBLE)
    assert scan_imagenet(imagenet_copy) == expected


@pytest.mark.parametrize("val_form", ["flat_devkit", "class_folders"])
@pytest.mark.parametrize("split", ["train", "val"])
def test_an_empty_class_folder_is_named(imagenet_copy, split, val_form):
    if val_form == "class_folders":
        _to_class_folders(imagenet_copy)
    wnid = sorted(scan_imagenet(imagenet_copy).train)[2]
    if split == "val" and val_form == "flat_devkit":
        # An empty val/<wnid>/ beside the flat files: before, a misleading "has 0 classes with >= N".
        (imagenet_copy / "val" / wnid).mkdir()
        message = r"holds both class folders \(1, e.g. \['n90000002'\]\) and 48 images directly inside; valid is"
    else:
        shutil.rmtree(imagenet_copy / split / wnid)
        (imagenet_copy / split / wnid).mkdir()
        message = rf"1 class folder\(s\) in '.*/{split}' hold no \*.JPEG images, e.g. \['{wnid}'\]"
    with pytest.raises(DataLayoutError, match=message) as caught:
        scan_imagenet(imagenet_copy)
    assert "\n" not in str(caught.value)


def test_a_training_class_without_val_images_is_named(imagenet_copy):
    _to_class_folders(imagenet_copy)
    shutil.rmtree(imagenet_copy / "val" / "n90000004")
    with pytest.raises(DataLayoutError, match=r"1 of the 6 classes in .* have no val images, e.g. \['n90000004'\]"):
        scan_imagenet(imagenet_copy)


def test_unextracted_class_tars_are_named(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    (tmp_path / "train" / "n01440764.tar").write_bytes(b"")
    with pytest.raises(DataLayoutError, match=r"holds 1 .tar files \(e.g. n01440764.tar\): extract each"):
        scan_imagenet(tmp_path)


@pytest.mark.parametrize(
    "file, content, message",
    [
        pytest.param(GROUND_TRUTH, APPLE_DOUBLE + b"\xff", "is not UTF-8 text", id="binary-ground-truth"),
        pytest.param(GROUND_TRUTH, b"1\n2\nseven\n", r"line 3 is 'seven'; expected one ILSVRC2012_ID", id="bad-id"),
        pytest.param(META, b"MATLAB 5.0 garbage", "cannot be read as ILSVRC2012 meta.mat", id="bad-meta"),
    ],
)
def test_a_damaged_devkit_file_is_one_line_naming_it(imagenet_copy, file, content, message):
    (imagenet_copy / DEVKIT / file).write_bytes(content)
    with pytest.raises(DataLayoutError, match=message) as caught:
        scan_imagenet(imagenet_copy)
    assert file in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "options, message",
    [
        pytest.param([], "has 0 classes with >= 1000 training images and val images; subset 'cls-50-1000' needs 50; "
                     "the copy has 6 classes in all: make a smaller subset with --name NAME --classes 6",
                     id="standard"),
        pytest.param(["--name", "m", "--classes", "3", "--per-class", "20"],
                     "pass --min-class-images 30 (or lower, but not below --per-class 20)", id="threshold-too-high"),
        pytest.param(["--name", "m", "--classes", "3", "--per-class", "40", "--min-class-images", "40"],
                     "fewer than the 40 this subset takes: make a smaller one with --name NAME --classes 3 "
                     "--per-class 30 --min-class-images 30", id="per-class-too-high"),
    ],
)
def test_a_small_copy_is_told_which_options_fit(toy_root, tmp_path, capsys, options, message):
    # The toy copy has 6 classes of 30 training images; the standard subsets need 50 of 1000.
    assert manifest_main(["imagenet", "--root", str(toy_root / "imagenet"), "--out", str(tmp_path), *options]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "options, message",
    [
        pytest.param(["--classes", "0"], "argument --classes: 0 is invalid; valid is an integer >= 1", id="no-classes"),
        pytest.param(["--per-class", "-1"], "argument --per-class: -1 is invalid", id="negative-per-class"),
        pytest.param(["--seed", "-4"], "argument --seed: -4 is invalid; valid is an integer >= 0", id="negative-seed"),
        pytest.param(["--min-class-images", "x"], "argument --min-class-images: 'x' is not an integer", id="not-a-number"),
    ],
)
def test_bad_subset_numbers_are_refused_before_anything_is_written(toy_root, tmp_path, capsys, options, message):
    # Before: --per-class -1 sliced off each class's last image, --classes 0 wrote an empty manifest and
    # --seed -4 wrote one whose header its own reader refused.
    args = ["imagenet", "--root", str(toy_root / "imagenet"), "--out", str(tmp_path), "--name", "m",
            "--classes", "2", "--per-class", "3", "--min-class-images", "3", *options]
    with pytest.raises(SystemExit) as exited:
        manifest_main(args)
    assert exited.value.code == 2 and message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("field, value", [("num_classes", 0), ("per_class", -1), ("seed", -4)])
def test_subset_selection_refuses_bad_numbers_from_the_api_too(toy_root, field, value):
    numbers = {"num_classes": 2, "per_class": 3, "seed": 0, field: value}
    with pytest.raises(BenchError, match=rf"^{field} \(--[a-z-]+\)={value} is invalid; valid is an integer >= [01]$"):
        select_imagenet_subset(scan_imagenet(toy_root / "imagenet"), "m", min_class_images=3, **numbers)


@pytest.mark.parametrize(
    "content, message",
    [
        pytest.param(b"", r"not a manifest", id="empty"),
        pytest.param(APPLE_DOUBLE + b"\xff", r"is not UTF-8 text", id="binary"),
    ],
)
def test_a_damaged_manifest_file_is_one_line(tmp_path, content, message):
    (tmp_path / "m.tsv").write_bytes(content)
    with pytest.raises(ManifestError, match=message):
        Manifest.read(tmp_path / "m.tsv")


@pytest.mark.parametrize(
    "field, value, message",
    [
        (2, "7", "label 7 is out of range for 2 classes"),
        (2, "-1", "label '-1' is not a non-negative integer"),
        (3, "nan", "size 'nan' is not a non-negative integer"),
        (0, "dev", "split 'dev' is not one of"),
        (1, "../../etc/passwd", "path '../../etc/passwd' must be relative to the dataset root"),
        (4, "XYZ", "sha256 'XYZ' is not 64 lowercase hex digits"),
    ],
)
def test_a_malformed_manifest_line_is_named(toy_root, tmp_path, field, value, message):
    manifest = select_imagenet_subset(scan_imagenet(toy_root / "imagenet"), "m", 2, 3, min_class_images=3)
    fields = manifest.entries[1].line().split("\t")
    fields[field] = value
    lines = manifest.write(tmp_path / "m.tsv").read_text().splitlines()
    index = lines.index(manifest.entries[1].line())
    lines[index] = "\t".join(fields)
    (tmp_path / "m.tsv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestError, match=rf"line {index + 1} is malformed: {message}"):
        Manifest.read(tmp_path / "m.tsv")


@pytest.mark.parametrize(
    "damage, message",
    [
        pytest.param(lambda data: data[: len(data) // 2], "Image is incomplete or truncated", id="truncated-jpeg"),
        pytest.param(lambda data: b"", "is empty (0 bytes)", id="empty"),
        pytest.param(lambda data: APPLE_DOUBLE, "Unsupported image file", id="not-an-image"),
    ],
)
def test_a_damaged_image_fails_in_a_loader_worker_with_one_line(toy_root, imagenet_copy, damage, message):
    manifest = Manifest.read(toy_root / "imagenet" / "manifests" / "toy-cls-b.tsv")
    entries = manifest.split("train")[:2]
    victim = imagenet_copy / entries[0].path
    victim.write_bytes(damage(victim.read_bytes()))
    batches = iter(DataLoader(ImageFiles(imagenet_copy, entries, AugmentConfig(crop_size=16, eval_resize=16), False),
                              num_workers=1))
    try:
        next(batches)
    except UnreadableImage as err:
        error = err
        error.__traceback__ = None  # let the iterator (and its worker) go now
    del batches
    assert error.worker == "in DataLoader worker process 0"
    assert str(victim) in str(error) and "\n" not in str(error) and ".cpp" not in str(error)
    assert message in str(error)


def test_a_16_bit_png_among_the_jpegs_is_decoded_to_8_bits(toy_root, imagenet_copy):
    import numpy as np
    from PIL import Image

    entries = Manifest.read(toy_root / "imagenet" / "manifests" / "toy-cls-b.tsv").split("val")[:1]
    Image.fromarray(np.full((20, 24), 40000, dtype=np.uint16)).save(imagenet_copy / entries[0].path, format="PNG")
    image, _ = ImageFiles(imagenet_copy, entries, AugmentConfig(crop_size=16, eval_resize=16), False)[0]
    assert image.dtype == torch.uint8 and int(image.max()) == 40000 >> 8
