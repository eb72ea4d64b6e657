"""The ImageNet (ILSVRC-2012) layout: ``train/<wnid>/*.JPEG`` and a val set in one of two forms.

- val in class folders: ``val/<wnid>/*.JPEG``;
- val flat, as distributed: ``val/ILSVRC2012_val_XXXXXXXX.JPEG`` labelled by the devkit,
  ``ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt`` (one ILSVRC2012_ID
  per line, in file-name order) and ``.../data/meta.mat`` (ILSVRC2012_ID -> wnid).

Scanning is only for the manifest tool; a training job reads its manifest.
Hidden files (``.*``, macOS ``._*``) are skipped; an empty class folder, a val
that mixes both forms, or a training class without val images is an error
naming the folder (each would silently change which classes a subset picks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tasks.data.files import DataLayoutError, read_text_lines, visible

__all__ = ["DataLayoutError", "ImageNetLayout", "read_meta", "scan_imagenet"]

WNID = re.compile(r"^n\d{8}$")
IMAGE_SUFFIXES = (".jpeg", ".jpg")
DEVKIT = Path("ILSVRC2012_devkit_t12") / "data"
GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
META = "meta.mat"
VALID_LAYOUT = "valid is train/<wnid>/*.JPEG with val/<wnid>/*.JPEG, or a flat val/*.JPEG with the devkit"


@dataclass(frozen=True)
class ImageNetLayout:
    """Relative image paths per wnid, for train and val (both sorted)."""

    root: Path
    train: dict[str, list[str]]
    val: dict[str, list[str]]
    val_form: str  # "class_folders" or "flat_devkit"


def _images_in(folder: Path) -> list[str]:
    return sorted(e.name for e in visible(folder) if e.is_file() and e.name.lower().endswith(IMAGE_SUFFIXES))


def _class_folders(folder: Path) -> list[str]:
    return sorted(e.name for e in visible(folder) if e.is_dir() and WNID.match(e.name))


def _images_by_class(folder: Path, wnids: list[str]) -> dict[str, list[str]]:
    """``{wnid: ["<folder name>/<wnid>/<image>", ...]}``; an empty class folder is an error."""
    images = {w: [f"{folder.name}/{w}/{name}" for name in _images_in(folder / w)] for w in wnids}
    empty = [w for w, files in images.items() if not files]
    if empty:
        # An empty folder would quietly make its class ineligible and change which classes a subset picks.
        raise DataLayoutError(
            f"{len(empty)} class folder(s) in {str(folder)!r} hold no *.JPEG images, e.g. {empty[:5]} "
            "(an interrupted extraction?); every class folder must hold its images: re-extract them or remove "
            "the empty folders"
        )
    return images


def scan_imagenet(root: str | Path) -> ImageNetLayout:
    """Find every train and val image of an ImageNet copy, or explain what is wrong with its layout."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataLayoutError(f"ImageNet root {str(root)!r} does not exist or is not a directory")
    train_dir, val_dir = root / "train", root / "val"
    for folder in (train_dir, val_dir):
        if not folder.is_dir():
            raise DataLayoutError(f"ImageNet root {str(root)!r} has no {folder.name}/ directory; {VALID_LAYOUT}")
    wnids = _class_folders(train_dir)
    if not wnids:
        tars = sorted(e.name for e in visible(train_dir) if e.name.endswith(".tar"))
        hint = f"; it holds {len(tars)} .tar files (e.g. {tars[0]}): extract each into train/<wnid>/" if tars else ""
        raise DataLayoutError(f"{str(train_dir)!r} holds no class folders named like n01440764 (wnids){hint}")
    train = _images_by_class(train_dir, wnids)
    val_wnids, flat = _class_folders(val_dir), _images_in(val_dir)
    if val_wnids and flat:
        raise DataLayoutError(
            f"{str(val_dir)!r} holds both class folders ({len(val_wnids)}, e.g. {val_wnids[:3]}) and {len(flat)} "
            f"images directly inside; {VALID_LAYOUT}, not both: remove the class folders or sort every image into them"
        )
    if val_wnids:
        val, val_form = _images_by_class(val_dir, val_wnids), "class_folders"
    else:
        val, val_form = _flat_val(root, val_dir, flat), "flat_devkit"
    without_val = [w for w in wnids if w not in val]
    if without_val:
        raise DataLayoutError(
            f"{len(without_val)} of the {len(wnids)} classes in {str(train_dir)!r} have no val images, e.g. "
            f"{without_val[:5]}; every training class needs its val images ({VALID_LAYOUT})"
        )
    return ImageNetLayout(root, train, val, val_form)


def _flat_val(root: Path, val_dir: Path, names: list[str]) -> dict[str, list[str]]:
    if not names:
        raise DataLayoutError(f"{str(val_dir)!r} holds neither class folders nor images; {VALID_LAYOUT}")
    devkit = root / DEVKIT
    for needed in (GROUND_TRUTH, META):
        if not (devkit / needed).is_file():
            raise DataLayoutError(
                f"val/ in {str(root)!r} is flat, so the devkit's labels are needed, but {str(devkit / needed)!r} "
                "is missing; unpack ILSVRC2012_devkit_t12.tar.gz into the root, or sort val/ into class folders"
            )
    labels = _ground_truth(devkit / GROUND_TRUTH)
    if len(labels) != len(names):
        raise DataLayoutError(
            f"the devkit ground truth {str(devkit / GROUND_TRUTH)!r} has {len(labels)} labels but val/ holds "
            f"{len(names)} images; they must match one to one (in file-name order)"
        )
    id_to_wnid = read_meta(devkit / META)
    val: dict[str, list[str]] = {}
    for name, label in zip(names, labels):
        if label not in id_to_wnid:
            raise DataLayoutError(f"the devkit ground truth labels {name} with ILSVRC2012_ID {label}, unknown to meta.mat")
        val.setdefault(id_to_wnid[label], []).append(f"val/{name}")
    return val


def _ground_truth(path: Path) -> list[int]:
    labels = []
    for line_no, line in enumerate(read_text_lines(path, "devkit ground truth"), start=1):
        if not line.strip():
            continue
        if not line.strip().isdigit():
            raise DataLayoutError(f"{str(path)!r} line {line_no} is {line!r}; expected one ILSVRC2012_ID (an integer)")
        labels.append(int(line))
    return labels


def read_meta(path: Path) -> dict[int, str]:
    """ILSVRC2012_ID -> wnid for the 1000 leaf synsets of the devkit's ``meta.mat``."""
    from scipy import io as sio

    try:
        synsets = sio.loadmat(str(path), squeeze_me=True)["synsets"]
        return {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in synsets if int(s["num_children"]) == 0}
    except Exception as err:  # noqa: BLE001 - scipy raises many types for a damaged or foreign file
        reason = f"it has no {err} table" if isinstance(err, KeyError) else f"{type(err).__name__}: {err}"
        raise DataLayoutError(
            f"devkit file {str(path)!r} cannot be read as ILSVRC2012 meta.mat ({reason}); "
            "unpack it again from ILSVRC2012_devkit_t12.tar.gz"
        ) from None
