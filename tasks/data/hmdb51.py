"""The HMDB51 layout: class folders of ``.avi`` clips and the official split files.

``<root>/<videos_dir>/<class>/<name>.avi`` and
``<root>/<splits_dir>/<class>_test_split<k>.txt``, each line ``<name>.avi <id>``
with id 1 = train, 2 = test, 0 = unused in that split. Classes are the split
files' class names, sorted (51 for the real set). Clips shorter than
``min_frames`` are dropped and counted (the paper's 3570 train clips become 2649).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

from bench.errors import BenchError
from tasks.data.imagenet import DataLayoutError


class UnreadableVideo(BenchError):
    """A clip listed by the split files cannot be opened or decoded."""


@dataclass(frozen=True)
class Clip:
    path: str  # relative to the root
    label: int
    frames: int


@dataclass(frozen=True)
class HMDBSplit:
    classes: tuple[str, ...]
    train: tuple[Clip, ...]
    test: tuple[Clip, ...]
    dropped: dict[str, int]  # split -> clips dropped for being shorter than min_frames
    listed: dict[str, int]  # split -> clips the split files list


def count_frames(path: Path) -> int:
    """Frames of a clip: the container's count when it records one, else by decoding."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            return sum(1 for _ in container.decode(video=0))
    except (av.error.FFmpegError, IndexError, OSError) as exc:
        raise UnreadableVideo(f"video {str(path)!r} cannot be opened ({exc})") from None


def read_split(root: str | Path, split: int, videos_dir: str, splits_dir: str, min_frames: int) -> HMDBSplit:
    """Parse split ``split`` (1, 2 or 3), check every listed clip exists, drop the short ones."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataLayoutError(f"HMDB51 root {str(root)!r} does not exist or is not a directory")
    split_dir = root / splits_dir
    files = sorted(split_dir.glob(f"*_test_split{split}.txt")) if split_dir.is_dir() else []
    if not files:
        raise DataLayoutError(
            f"no split files {splits_dir}/<class>_test_split{split}.txt under {str(root)!r}; unpack the official "
            "test_train_splits archive there (or set data.splits_dir)"
        )
    classes = tuple(f.name[: -len(f"_test_split{split}.txt")] for f in files)
    chosen: dict[str, list[Clip]] = {"train": [], "test": []}
    dropped = {"train": 0, "test": 0}
    listed = {"train": 0, "test": 0}
    missing = []
    for label, (name, file) in enumerate(zip(classes, files)):
        for line_no, line in enumerate(file.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise DataLayoutError(f"{str(file)!r} line {line_no} is {line!r}; expected '<name>.avi <0|1|2>'")
            if parts[1] == "0":
                continue
            which = "train" if parts[1] == "1" else "test"
            listed[which] += 1
            rel = str(Path(videos_dir) / name / parts[0])
            if not (root / rel).is_file():
                missing.append(rel)
                continue
            frames = count_frames(root / rel)
            if frames < min_frames:
                dropped[which] += 1
                continue
            chosen[which].append(Clip(rel, label, frames))
    if missing:
        raise DataLayoutError(
            f"{len(missing)} clip(s) listed by the split files are missing under {str(root)!r}, e.g. {missing[:3]}; "
            f"expected <root>/{videos_dir or '.'}/<class>/<name>.avi (set data.videos_dir if your clips live elsewhere)"
        )
    return HMDBSplit(classes, tuple(chosen["train"]), tuple(chosen["test"]), dropped, listed)
