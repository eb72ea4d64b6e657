"""Cityscapes label PNGs are read as the ids they store, whatever their mode; scans skip hidden files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tasks.data.cityscapes import scan_cityscapes
from tasks.segmentation.data import CityscapesPairs, SegAugmentConfig, UnreadableImage, read_label_png
from tasks.toydata.cityscapes import PALETTE

APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02"


@pytest.fixture()
def cityscapes(toy_root, tmp_path) -> Path:
    copy = tmp_path / "cityscapes"
    shutil.copytree(toy_root / "cityscapes", copy, ignore=shutil.ignore_patterns(".toy-*"))
    return copy


def _labels(root: Path) -> list[torch.Tensor]:
    pairs = scan_cityscapes(root, "val")
    return [label for _, label in CityscapesPairs(root, pairs, SegAugmentConfig())]


def _resave(root: Path, convert) -> None:
    for path in sorted((root / "gtFine").rglob("*_gtFine_labelIds.png")):
        with Image.open(path) as image:
            ids = np.asarray(image)
        convert(ids).save(path)


def _palette(ids: np.ndarray, colours: list[int]) -> Image.Image:
    image = Image.fromarray(ids, mode="P")
    image.putpalette(colours)
    return image


CITYSCAPES_COLOURS = [c for i in range(256) for c in PALETTE.get(i, (i, i, i))]
SHUFFLED_COLOURS = np.random.default_rng(0).permutation(768).astype(np.uint8).tolist()


@pytest.mark.parametrize(
    "convert",
    [
        pytest.param(lambda ids: _palette(ids, CITYSCAPES_COLOURS), id="palette-cityscapes-colours"),
        pytest.param(lambda ids: _palette(ids, SHUFFLED_COLOURS), id="palette-other-colours"),
        pytest.param(lambda ids: Image.fromarray(ids.astype(np.uint16)), id="16-bit-grey"),
    ],
)
def test_label_ids_are_the_stored_indices_in_every_index_mode(cityscapes, convert):
    expected = _labels(cityscapes)
    _resave(cityscapes, convert)
    with Image.open(next((cityscapes / "gtFine").rglob("*.png"))) as image:
        assert image.mode in ("P", "I;16")  # the files really are in the mode under test
    got = _labels(cityscapes)
    assert all(torch.equal(a, b) for a, b in zip(got, expected))
    assert any((label != 255).float().mean() > 0.5 for label in got)  # not all ignored


@pytest.mark.parametrize(
    "image, message",
    [
        pytest.param(Image.new("RGB", (4, 2), (128, 64, 128)),
                     r"is a RGB image; label ids must be stored one per pixel", id="rgb"),
        pytest.param(Image.new("RGBA", (4, 2)), "is a RGBA image", id="rgba"),
        pytest.param(Image.fromarray(np.full((2, 4), 300, dtype=np.uint16)), "holds ids from 300 to 300", id="ids>255"),
    ],
)
def test_a_label_image_that_does_not_store_ids_is_refused(tmp_path, image, message):
    path = tmp_path / "aachen_000000_000019_gtFine_labelIds.png"
    image.save(path)
    with pytest.raises(UnreadableImage, match=message) as caught:
        read_label_png(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    "content, message",
    [
        pytest.param(None, r"is a JPEG file, not a PNG", id="jpeg-named-png"),
        pytest.param(b"", r"cannot be read as a PNG", id="empty"),
        pytest.param(APPLE_DOUBLE, r"cannot be read as a PNG", id="not-an-image"),
        pytest.param("half", r"cannot be read as a PNG", id="truncated"),
    ],
)
def test_a_damaged_label_file_is_one_line_naming_it(cityscapes, content, message):
    pairs = scan_cityscapes(cityscapes, "val")
    path = cityscapes / pairs[0].label
    if content is None:
        Image.fromarray(read_label_png(path).numpy()).save(path, format="JPEG")
    elif content == "half":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(UnreadableImage, match=message) as caught:
        CityscapesPairs(cityscapes, pairs, SegAugmentConfig())[0]
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_damaged_image_file_is_one_line_naming_it(cityscapes):
    pairs = scan_cityscapes(cityscapes, "val")
    path = cityscapes / pairs[0].image
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UnreadableImage, match="cannot be read as a PNG") as caught:
        CityscapesPairs(cityscapes, pairs, SegAugmentConfig())[0]
    message = str(caught.value)
    assert str(path) in message and "\n" not in message and ".cpp" not in message  # no C++ source location


def test_hidden_files_and_folders_are_not_frames(cityscapes):
    expected = scan_cityscapes(cityscapes, "train")
    city = cityscapes / "leftImg8bit" / "train" / "aachen"
    (city / "._aachen_000000_000019_leftImg8bit.png").write_bytes(APPLE_DOUBLE)
    labels = cityscapes / "gtFine" / "train" / "aachen"
    (labels / "._aachen_000000_000019_gtFine_labelIds.png").write_bytes(APPLE_DOUBLE)
    hidden = cityscapes / "leftImg8bit" / "train" / ".Trashes"
    hidden.mkdir()
    shutil.copy(next(city.glob("a*.png")), hidden / "x_000000_000019_leftImg8bit.png")  # no label: would be an error
    (city / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    assert scan_cityscapes(cityscapes, "train") == expected
