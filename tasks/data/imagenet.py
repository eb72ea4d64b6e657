"""The ImageNet (ILSVRC-2012) layout: ``train/<wnid>/*.JPEG`` and a val set in one of two forms.

- val in class folders: ``val/<wnid>/*.JPEG``;
- val flat, as distributed: ``val/ILSVRC2012_val_XXXXXXXX.JPEG`` labelled by the devkit,
  ``ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt`` (one ILSVRC2012_ID
  per line, in file-name order) and ``.../data/meta.mat`` (ILSVRC2012_ID -> wnid).

Scanning is only for the manifest tool; a training job reads its manifest.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError

WNID = re.compile(r"^n\d{8}$")
IMAGE_SUFFIXES = (".jpeg", ".jpg")
DEVKIT = Path("ILSVRC2012_devkit_t12") / "data"
GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
META = "meta.mat"


class DataLayoutError(BenchError):
    """A dataset root is missing or is not laid out as the dataset's distribution is."""


@dataclass(frozen=True)
class ImageNetLayout:
    """Relative image paths per wnid, for train and val (both sorted)."""

    root: Path
    train: dict[str, list[str]]
    val: dict[str, list[str]]
    val_form: str  # "class_folders" or "flat_devkit"


def _images_in(folder: Path) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_file() and e.name.lower().endswith(IMAGE_SUFFIXES))


def _class_folders(folder: Path) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_dir() and WNID.match(e.name))


def scan_imagenet(root: str | Path) -> ImageNetLayout:
    """Find every train and val image of an ImageNet copy, or explain what is wrong with its layout."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataLayoutError(f"ImageNet root {str(root)!r} does not exist or is not a directory")
    train_dir, val_dir = root / "train", root / "val"
    for folder in (train_dir, val_dir):
        if not folder.is_dir():
            raise DataLayoutError(
                f"ImageNet root {str(root)!r} has no {folder.name}/ directory; expected train/<wnid>/*.JPEG "
                "and val/ (class folders, or flat files with the devkit)"
            )
    wnids = _class_folders(train_dir)
    if not wnids:
        raise DataLayoutError(f"{str(train_dir)!r} holds no class folders named like n01440764 (wnids)")
    train = {w: [f"train/{w}/{name}" for name in _images_in(train_dir / w)] for w in wnids}
    val_wnids = _class_folders(val_dir)
    if val_wnids:
        val = {w: [f"val/{w}/{name}" for name in _images_in(val_dir / w)] for w in val_wnids}
        return ImageNetLayout(root, train, val, "class_folders")
    return ImageNetLayout(root, train, _flat_val(root, val_dir), "flat_devkit")


def _flat_val(root: Path, val_dir: Path) -> dict[str, list[str]]:
    names = _images_in(val_dir)
    if not names:
        raise DataLayoutError(f"{str(val_dir)!r} holds neither class folders nor images")
    devkit = root / DEVKIT
    for needed in (GROUND_TRUTH, META):
        if not (devkit / needed).is_file():
            raise DataLayoutError(
                f"val/ in {str(root)!r} is flat, so the devkit's labels are needed, but {str(devkit / needed)!r} "
                "is missing; unpack ILSVRC2012_devkit_t12.tar.gz into the root, or sort val/ into class folders"
            )
    labels = [int(line) for line in (devkit / GROUND_TRUTH).read_text().split()]
    if len(labels) != len(names):
        raise DataLayoutError(
            f"the devkit ground truth has {len(labels)} labels but val/ holds {len(names)} images; "
            "they must match one to one (in file-name order)"
        )
    id_to_wnid = read_meta(devkit / META)
    val: dict[str, list[str]] = {}
    for name, label in zip(names, labels):
        if label not in id_to_wnid:
            raise DataLayoutError(f"the devkit ground truth labels {name} with ILSVRC2012_ID {label}, unknown to meta.mat")
        val.setdefault(id_to_wnid[label], []).append(f"val/{name}")
    return val


def read_meta(path: Path) -> dict[int, str]:
    """ILSVRC2012_ID -> wnid for the 1000 leaf synsets of the devkit's ``meta.mat``."""
    from scipy import io as sio

    synsets = sio.loadmat(str(path), squeeze_me=True)["synsets"]
    return {
        int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in synsets if int(s["num_children"]) == 0
    }
