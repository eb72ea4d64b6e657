"""The manifest tool is deterministic, nests the subsets, reads both val forms, and refuses mismatching data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.errors import BenchError
from tasks.data.imagenet import DataLayoutError, scan_imagenet
from tasks.data.manifest import Manifest, ManifestMismatch, select_imagenet_subset
from tasks.manifest import main as manifest_main
from tasks.manifest import write_imagenet_manifests

SUBSETS = {"big": (4, 20), "few-images": (4, 5), "few-classes": (2, 20)}


@pytest.fixture()
def imagenet_copy(toy_root, tmp_path) -> Path:
    copy = tmp_path / "imagenet"
    shutil.copytree(toy_root / "imagenet", copy, ignore=shutil.ignore_patterns("manifests", ".toy-*"))
    return copy


def test_manifests_are_deterministic_and_nested(toy_root, tmp_path):
    first = write_imagenet_manifests(toy_root / "imagenet", tmp_path / "a", SUBSETS, seed=0, min_class_images=20)
    second = write_imagenet_manifests(toy_root / "imagenet", tmp_path / "b", SUBSETS, seed=0, min_class_images=20)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    big, few_images, few_classes = (Manifest.read(p) for p in first)
    assert len(big.split("train")) == 80 and len(big.classes) == 4
    assert {e.path for e in few_images.split("train")} <= {e.path for e in big.split("train")}
    assert set(few_classes.classes) <= set(big.classes)
    assert all(e.sha256 and e.size > 0 for e in big.entries)
    other_seed = select_imagenet_subset(scan_imagenet(toy_root / "imagenet"), "big", 4, 20, seed=1, min_class_images=20)
    assert other_seed.content_sha256 != big.content_sha256


def test_flat_val_with_devkit_labels_like_class_folders(imagenet_copy):
    flat = scan_imagenet(imagenet_copy)
    assert flat.val_form == "flat_devkit"
    for wnid, files in flat.val.items():  # sort the flat val into class folders, as many users do
        (imagenet_copy / "val" / wnid).mkdir()
        for rel in files:
            (imagenet_copy / rel).rename(imagenet_copy / "val" / wnid / Path(rel).name)
    folders = scan_imagenet(imagenet_copy)
    assert folders.val_form == "class_folders"
    assert {w: [Path(p).name for p in v] for w, v in folders.val.items()} == {
        w: [Path(p).name for p in v] for w, v in flat.val.items()
    }


def test_verify_refuses_missing_resized_or_changed_files(imagenet_copy, tmp_path):
    manifest = select_imagenet_subset(scan_imagenet(imagenet_copy), "m", 3, 10, min_class_images=10)
    manifest.verify(imagenet_copy, "sha256")
    victim = imagenet_copy / manifest.split("train")[0].path
    data = victim.read_bytes()
    victim.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, other content
    manifest.verify(imagenet_copy, "size")
    with pytest.raises(ManifestMismatch, match="1 different"):
        manifest.verify(imagenet_copy, "sha256")
    victim.write_bytes(data + b"x")
    with pytest.raises(ManifestMismatch, match="size"):
        manifest.verify(imagenet_copy, "size")
    victim.unlink()
    with pytest.raises(ManifestMismatch, match="1 missing"):
        manifest.verify(imagenet_copy, "size")


def test_edited_manifest_is_detected(toy_root, tmp_path):
    path = tmp_path / "m.tsv"
    select_imagenet_subset(scan_imagenet(toy_root / "imagenet"), "m", 2, 5, min_class_images=5).write(path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")  # drop one entry
    with pytest.raises(ManifestMismatch, match="edited or truncated"):
        Manifest.read(path)


def test_layout_errors_name_what_is_wrong(tmp_path, imagenet_copy):
    with pytest.raises(DataLayoutError, match="does not exist"):
        scan_imagenet(tmp_path / "nowhere")
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(DataLayoutError, match="val/"):
        scan_imagenet(tmp_path / "empty")
    shutil.rmtree(imagenet_copy / "ILSVRC2012_devkit_t12")
    with pytest.raises(DataLayoutError, match="devkit"):
        scan_imagenet(imagenet_copy)


def test_too_few_eligible_classes_is_an_error(toy_root):
    layout = scan_imagenet(toy_root / "imagenet")
    with pytest.raises(BenchError, match="needs 9"):
        select_imagenet_subset(layout, "m", 9, 5)
    with pytest.raises(BenchError, match="needs 2"):
        select_imagenet_subset(layout, "m", 2, 31)  # no class has 31 training images


def test_cli_writes_and_verifies(toy_root, tmp_path, capsys):
    root = str(toy_root / "imagenet")
    assert manifest_main(["imagenet", "--root", root, "--out", str(tmp_path), "--name", "c", "--classes", "2",
                          "--per-class", "5", "--min-class-images", "5"]) == 0
    assert manifest_main(["verify", str(tmp_path / "c.tsv"), "--root", root, "--mode", "sha256"]) == 0
    assert manifest_main(["verify", str(tmp_path / "c.tsv"), "--root", str(tmp_path)]) == 2
    assert "does not match" in capsys.readouterr().err
