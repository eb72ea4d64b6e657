"""The HMDB51 layout, its manifest of decodable frame counts, and the clips a job trains on.

Layout: ``<root>/<videos_dir>/<class>/<name>.avi`` and
``<root>/<splits_dir>/<class>_test_split<k>.txt``, each line ``<name>.avi <id>``
with id 1 = train, 2 = test, 0 = unused in that split. Classes are the split
files' class names, sorted (51 for the real set). Hidden files (``.*``, the
``._*`` files a Mac copy carries) are never split files.

Frame counts: a container's header can claim more frames than decode (a clip
whose AVI header says 66 frames may decode 65), so the manifest tool decodes
every listed clip ONCE and records its decodable frames; jobs read them from
the manifest (no clip is opened at job start) and sample windows only within
them. Clips shorter than the recipe's ``min_frames`` are dropped and counted
(the paper's 3570 train clips become 2649).

Where the manifest lives (:func:`manifest_path`): for a real copy,
``data_manifests/hmdb51-split<k>.tsv`` in the repository, made from the copy by
``python -m tasks.manifest hmdb51 --root <root>``; for the generated toy set,
``<toy root>/manifests/``, written with the toy data. Its content hash
(:func:`tasks.data.manifest.dataset_identity`) is the data's identity.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av

from bench.errors import DataError, check_int
from tasks.data.files import DataLayoutError, read_text_lines, visible
from tasks.data.manifest import MANIFEST_DIR, Manifest, ManifestEntry, ManifestError, file_facts

DEFAULT_SPLITS_DIR = "testTrainMulti_7030_splits"
SPLIT_IDS = {"1": "train", "2": "test"}  # "0": not used in this split
# The errors PyAV raises for a file that is not a video or is damaged (its errors subclass these).
AV_ERRORS = (av.error.FFmpegError, OSError, ValueError, IndexError, EOFError)


class UnreadableVideo(DataError):
    """A clip cannot be opened or decoded."""


@dataclass(frozen=True)
class Clip:
    path: str  # relative to the root
    label: int
    frames: int  # decodable frames


@dataclass(frozen=True)
class HMDBSplit:
    classes: tuple[str, ...]
    train: tuple[Clip, ...]
    test: tuple[Clip, ...]
    dropped: dict[str, int]  # split -> clips dropped for being shorter than min_frames
    listed: dict[str, int]  # split -> clips the manifest lists
    manifest_sha256: str  # the data's identity


def manifest_name(split: int) -> str:
    """``hmdb51-split1`` for split 1."""
    return f"hmdb51-split{split}"


def manifest_path(data_root: str | Path, kind: str, split: int) -> Path:
    """Where a job finds the manifest of ``split``: the toy root's ``manifests/``, else ``data_manifests/``.

    Example:
        >>> manifest_path("/toy/hmdb51", "toy", 1)
        PosixPath('/toy/hmdb51/manifests/hmdb51-split1.tsv')
    """
    folder = Path(data_root).expanduser() / "manifests" if kind == "toy" else MANIFEST_DIR
    return folder / f"{manifest_name(split)}.tsv"


@contextmanager
def open_video(path: Path) -> Iterator[tuple[int, Iterator[av.VideoFrame]]]:
    """(frames the header claims, 0 if none; the decoded frames in order) of ``path``'s first video stream.

    The ONE decoding path: counting and sampling must agree on which frames decode. A file that
    cannot be opened, or has no video stream, raises :class:`UnreadableVideo`.
    """
    try:
        container = av.open(str(path))
    except AV_ERRORS as exc:
        raise UnreadableVideo(f"video {str(path)!r} cannot be opened ({_reason(exc)})") from None
    try:
        if not container.streams.video:
            raise UnreadableVideo(f"video {str(path)!r} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield int(stream.frames or 0), container.decode(stream)
    finally:
        container.close()


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def probe_frames(path: Path) -> tuple[int, int]:
    """(decodable frames, frames the container's header claims; 0 when it claims none).

    Decoding stops at the first error: the frames before it are the ones a loader can rely on.
    """
    decodable = 0
    with open_video(path) as (header, frames):
        try:
            for _ in frames:
                decodable += 1
        except AV_ERRORS:
            pass
    return decodable, header


def read_split_files(
    root: Path, split: int, videos_dir: str, splits_dir: str
) -> tuple[tuple[str, ...], list[tuple[str, str, int]]]:
    """(classes, [(train|test, clip path relative to root, label)]) of split ``split``; missing clips are an error."""
    split_dir = root / splits_dir
    suffix = f"_test_split{split}.txt"
    files = sorted((e.name for e in visible(split_dir) if e.name.endswith(suffix)) if split_dir.is_dir() else [])
    if not files:
        raise DataLayoutError(
            f"no split files {splits_dir}/<class>{suffix} under {str(root)!r}; unpack the official "
            "test_train_splits archive there (or set the splits folder: --splits-dir, recipe data.splits_dir)"
        )
    classes = tuple(name[: -len(suffix)] for name in files)
    listed, missing = [], []
    for label, (name, file) in enumerate(zip(classes, files)):
        seen: dict[str, int] = {}
        for line_no, line in enumerate(read_text_lines(split_dir / file, "HMDB51 split file"), start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2") or "/" in parts[0] or parts[0].startswith("."):
                raise DataLayoutError(
                    f"{str(split_dir / file)!r} line {line_no} is {line!r}; expected '<name>.avi <0|1|2>'"
                )
            if parts[0] in seen:
                raise DataLayoutError(f"{str(split_dir / file)!r} lists {parts[0]} twice (lines {seen[parts[0]]} "
                                      f"and {line_no}); each clip must be listed once")
            seen[parts[0]] = line_no
            if parts[1] == "0":
                continue
            rel = str(Path(videos_dir) / name / parts[0])
            if not (root / rel).is_file():
                missing.append(rel)
            listed.append((SPLIT_IDS[parts[1]], rel, label))
    if missing:
        raise DataLayoutError(
            f"{len(missing)} clip(s) listed by the split files are missing under {str(root)!r}, e.g. {missing[:3]}; "
            f"expected <root>/{videos_dir or '.'}/<class>/<name>.avi (--videos-dir, recipe data.videos_dir)"
        )
    return classes, listed


@dataclass(frozen=True)
class ManifestReport:
    manifests: list[Manifest]
    header_mismatches: dict[str, tuple[int, int]]  # clip -> (decodable, header) where they differ


def make_hmdb51_manifests(
    root: str | Path,
    splits: tuple[int, ...] = (1,),
    videos_dir: str = "",
    splits_dir: str = DEFAULT_SPLITS_DIR,
    hash_files: bool = True,
    workers: int = 1,
) -> ManifestReport:
    """Decode every clip the split files list (once, also when several splits share it) and build the manifests.

    Raises:
        BenchError: ``workers`` below 1; DataLayoutError / DataError for a missing root or split files.
    """
    check_int("workers (--workers)", workers, 1)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataLayoutError(f"HMDB51 root {str(root)!r} does not exist or is not a directory")
    parsed = {k: read_split_files(root, k, videos_dir, splits_dir) for k in splits}
    paths = sorted({rel for _, listed in parsed.values() for _, rel, _ in listed})
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            probes = dict(zip(paths, pool.map(probe_frames, [root / p for p in paths], chunksize=8)))
    else:
        probes = {p: probe_frames(root / p) for p in paths}
    facts = {p: file_facts(root / p, hash_files) for p in paths}
    manifests = []
    for k, (classes, listed) in parsed.items():
        entries = tuple(ManifestEntry(which, rel, label, *facts[rel], probes[rel][0])
                        for which, rel, label in listed)
        manifests.append(Manifest(manifest_name(k), "hmdb51", None, None, classes, entries))
    mismatches = {p: probe for p, probe in probes.items() if probe[1] and probe[0] != probe[1]}
    return ManifestReport(manifests, mismatches)


def load_hmdb51(
    data_root: str | Path,
    kind: str,
    split: int,
    min_frames: int,
    videos_dir: str = "",
    splits_dir: str = DEFAULT_SPLITS_DIR,
    verify: str = "size",
) -> HMDBSplit:
    """The clips of split ``split``'s manifest (:func:`manifest_path`), checked against ``data_root``
    (``verify``: size or sha256), without those under ``min_frames`` decodable frames. No clip is opened.

    ``videos_dir`` and ``splits_dir`` only complete the command that creates a missing manifest.

    Example (the video job's call)::

        split = load_hmdb51(spec.data_root, data.kind, data.split, data.min_frames, data.videos_dir, data.splits_dir)
        dataset_hash = split.manifest_sha256
    """
    path = manifest_path(data_root, kind, split)
    if not path.is_file():
        given = {"split": split, "videos-dir": videos_dir, "splits-dir": splits_dir, "out": path.parent}
        defaults = {"split": 1, "videos-dir": "", "splits-dir": DEFAULT_SPLITS_DIR, "out": MANIFEST_DIR}
        options = "".join(f" --{key} {value}" for key, value in given.items() if value != defaults[key])
        raise ManifestError(
            f"HMDB51 manifest {str(path)!r} does not exist; create it from your copy with `python -m tasks.manifest "
            f"hmdb51 --root {data_root}{options}` (it counts every clip's decodable frames once)"
        )
    manifest = Manifest.read(path)
    if manifest.dataset != "hmdb51" or "frames" not in manifest.columns:
        raise ManifestError(f"{str(path)!r} is a {manifest.dataset} manifest without frame counts, not an HMDB51 one")
    manifest.verify(data_root, verify)
    clips: dict[str, list[Clip]] = {"train": [], "test": []}
    dropped = {"train": 0, "test": 0}
    for entry in manifest.entries:
        if entry.split not in clips:
            raise ManifestError(f"{str(path)!r} lists {entry.path} in split {entry.split!r}; valid are train, test")
        if entry.frames < min_frames:
            dropped[entry.split] += 1
        else:
            clips[entry.split].append(Clip(entry.path, entry.label, entry.frames))
    listed = {which: len(clips[which]) + dropped[which] for which in clips}
    return HMDBSplit(manifest.classes, tuple(clips["train"]), tuple(clips["test"]), dropped, listed,
                     manifest.content_sha256)
