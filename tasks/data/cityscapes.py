"""The Cityscapes layout and label mapping.

``leftImg8bit/{train,val}/<city>/<stem>_leftImg8bit.png`` with
``gtFine/{train,val}/<city>/<stem>_gtFine_labelIds.png``; label ids are mapped
to the 19 evaluation classes ("train ids", cityscapesScripts' ``labels.py``),
every other id to 255 (ignored in the loss and the metrics). Hidden files and
folders (``.*``, macOS ``._*``) are skipped. Label images are read as the ids
they store (:func:`tasks.segmentation.data.read_label_png`), never as colours.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from tasks.data.files import DataLayoutError, visible

IGNORE_INDEX = 255
NUM_CLASSES = 19
CLASS_NAMES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
)
# label id -> train id for the 19 evaluated classes (cityscapesScripts labels.py).
LABEL_TO_TRAIN = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
                  24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"


def train_id_lut() -> torch.Tensor:
    """A 256-entry uint8 lookup table: label id -> train id (255 for ignored ids).

    Example:
        >>> lut = train_id_lut()
        >>> int(lut[7]), int(lut[26]), int(lut[0]), int(lut[255])
        (0, 13, 255, 255)
    """
    lut = torch.full((256,), IGNORE_INDEX, dtype=torch.uint8)
    for label_id, train_id in LABEL_TO_TRAIN.items():
        lut[label_id] = train_id
    return lut


def _city_images(image_dir: Path) -> list[Path]:
    """Every ``<city>/*_leftImg8bit.png`` file, sorted; hidden files and folders skipped."""
    return sorted(
        Path(city.path) / e.name
        for city in visible(image_dir) if city.is_dir()
        for e in visible(Path(city.path)) if e.is_file() and e.name.endswith(IMAGE_SUFFIX)
    )


@dataclass(frozen=True)
class SegPair:
    image: str  # relative to the root
    label: str


def scan_cityscapes(root: str | Path, split: str) -> list[SegPair]:
    """Every (image, label) pair of ``split``, sorted; an image without its label is an error."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataLayoutError(f"Cityscapes root {str(root)!r} does not exist or is not a directory")
    image_dir = root / "leftImg8bit" / split
    label_dir = root / "gtFine" / split
    for folder in (image_dir, label_dir):
        if not folder.is_dir():
            raise DataLayoutError(
                f"Cityscapes root {str(root)!r} has no {folder.relative_to(root)}/; expected "
                f"leftImg8bit/{split}/<city>/*{IMAGE_SUFFIX} and gtFine/{split}/<city>/*{LABEL_SUFFIX}"
            )
    pairs, unlabelled = [], []
    for image in _city_images(image_dir):
        city = image.parent.name
        stem = image.name[: -len(IMAGE_SUFFIX)]
        label = label_dir / city / f"{stem}{LABEL_SUFFIX}"
        if not label.is_file():
            unlabelled.append(str(label.relative_to(root)))
            continue
        pairs.append(SegPair(str(image.relative_to(root)), str(label.relative_to(root))))
    if unlabelled:
        raise DataLayoutError(
            f"{len(unlabelled)} {split} image(s) under {str(image_dir)!r} have no label file, e.g. {unlabelled[:3]}"
        )
    if not pairs:
        raise DataLayoutError(f"{str(image_dir)!r} holds no <city>/*{IMAGE_SUFFIX} images")
    return pairs
