"""Dataset subset manifests: which files a job trains and evaluates on, with sizes and hashes.

A manifest is a UTF-8 TSV file (see ``data_manifests/README.md``)::

    # nasbench-mr manifest v1
    # name: cls-50-1000
    # dataset: imagenet
    # seed: 0
    # min_class_images: 1000
    # classes: n01440764 n01443537 ...          (label i = i-th wnid)
    # content_sha256: <sha256 of the class line and every entry line>
    split	path	label	size	sha256
    train	train/n01440764/n01440764_10026.JPEG	0	13697	8b1c...

A video dataset's manifest (HMDB51) has a sixth column, ``frames``: the number
of frames that DECODE (not what the container's header claims), counted once
when the manifest is made; it has no ``seed`` or ``min_class_images`` lines.

Selection is deterministic and machine-independent: classes are ranked by
``sha256("<seed>:<wnid>")`` and images within a class by
``sha256("<seed>:<path>")``; a subset takes the first ``num_classes`` eligible
classes (those with at least ``min_class_images`` training images) and the
first ``per_class`` images of each. With one ``min_class_images`` the subsets
nest: cls-10-1000's classes are among cls-50-1000's, and cls-50-100's images
among cls-50-1000's. Every val image of a chosen class is kept.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError, DataError, check_int
from tasks.data.files import read_text_lines
from tasks.data.imagenet import ImageNetLayout
from tasks.engine.checkpoint import sha256_of

FORMAT_LINE = "# nasbench-mr manifest v1"
COLUMNS = ("split", "path", "label", "size", "sha256")
VIDEO_COLUMNS = (*COLUMNS, "frames")
SPLITS = ("train", "val", "test")
MANIFEST_DIR = Path(__file__).resolve().parents[2] / "data_manifests"
"""Where manifests made from a user's copy of a real dataset go (``python -m tasks.manifest``)."""
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

STANDARD_SUBSETS = {
    "cls-50-1000": (50, 1000),
    "cls-50-100": (50, 100),
    "cls-10-1000": (10, 1000),
}
"""Manifest name -> (classes, training images per class), the paper's Cls-A, Cls-B and Cls-C."""


class ManifestMismatch(DataError):
    """The data on disk is not the data the manifest names."""


class ManifestError(DataError):
    """A manifest file is missing, damaged or malformed."""


@dataclass(frozen=True)
class ManifestEntry:
    split: str
    path: str
    label: int
    size: int
    sha256: str  # "" when the manifest was written without file hashes
    frames: int | None = None  # decodable frames (video datasets only)

    def line(self) -> str:
        fields = [self.split, self.path, str(self.label), str(self.size), self.sha256]
        return "\t".join(fields if self.frames is None else [*fields, str(self.frames)])


@dataclass(frozen=True)
class Manifest:
    """A named subset: its classes (label order) and entries; ``seed`` and ``min_class_images``
    describe an ImageNet selection and are None for a dataset taken whole (HMDB51)."""

    name: str
    dataset: str
    seed: int | None
    min_class_images: int | None
    classes: tuple[str, ...]
    entries: tuple[ManifestEntry, ...]

    def __post_init__(self) -> None:
        if len({e.frames is None for e in self.entries}) > 1:
            raise BenchError(f"manifest {self.name!r}: either every entry has a frame count or none has")

    @property
    def columns(self) -> tuple[str, ...]:
        return VIDEO_COLUMNS if self.entries and self.entries[0].frames is not None else COLUMNS

    @property
    def content_sha256(self) -> str:
        digest = hashlib.sha256(("classes\t" + " ".join(self.classes) + "\n").encode())
        for entry in self.entries:
            digest.update((entry.line() + "\n").encode())
        return digest.hexdigest()

    def split(self, split: str) -> list[ManifestEntry]:
        return [e for e in self.entries if e.split == split]

    def write(self, path: str | Path) -> Path:
        """Write atomically (temporary file + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        selection = [f"# {k}: {v}" for k, v in (("seed", self.seed), ("min_class_images", self.min_class_images))
                     if v is not None]
        header = [
            FORMAT_LINE,
            f"# name: {self.name}",
            f"# dataset: {self.dataset}",
            *selection,
            f"# classes: {' '.join(self.classes)}",
            f"# content_sha256: {self.content_sha256}",
            "\t".join(self.columns),
        ]
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("\n".join(header + [e.line() for e in self.entries]) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def read(cls, path: str | Path) -> Manifest:
        """Read and check a manifest file (its recorded content hash must match its content)."""
        path = Path(path)
        if not path.is_file():
            raise ManifestError(f"manifest {str(path)!r} does not exist; create it with `python -m tasks.manifest`")
        lines = read_text_lines(path, "manifest", ManifestError)
        if not lines or lines[0] != FORMAT_LINE:
            raise ManifestError(f"{str(path)!r} is not a manifest (first line must be {FORMAT_LINE!r})")
        meta: dict[str, str] = {}
        columns = COLUMNS
        body = []
        for line_no, line in enumerate(lines[1:], start=2):
            if line.startswith("# "):
                key, _, value = line[2:].partition(": ")
                meta[key] = value
            elif line.startswith("split\t"):
                columns = tuple(line.split("\t"))
            elif line:
                body.append((line_no, line))
        if columns not in (COLUMNS, VIDEO_COLUMNS):
            raise ManifestError(f"manifest {str(path)!r} has columns {list(columns)}; valid are {list(COLUMNS)} "
                                f"or {list(VIDEO_COLUMNS)}")
        recreate = "recreate it with `python -m tasks.manifest`"
        missing = [k for k in ("name", "dataset", "classes") if k not in meta]
        if missing:
            raise ManifestError(f"manifest {str(path)!r} has no header line for {missing}; {recreate}")
        classes = tuple(meta["classes"].split())
        entries = []
        for line_no, line in body:
            try:
                entries.append(_parse_entry(line, columns, len(classes)))
            except ValueError as exc:
                raise ManifestError(f"manifest {str(path)!r} line {line_no} is malformed: {exc}; {recreate}") from None
        selection = {}
        for key in ("seed", "min_class_images"):
            if key in meta:
                if not (meta[key].isascii() and meta[key].isdigit()):
                    raise ManifestError(
                        f"manifest {str(path)!r} header {key}={meta[key]!r} is not an integer; {recreate}"
                    )
                selection[key] = int(meta[key])
        manifest = cls(meta["name"], meta["dataset"], selection.get("seed"), selection.get("min_class_images"),
                       classes, tuple(entries))
        if manifest.content_sha256 != meta.get("content_sha256"):
            raise ManifestMismatch(
                f"manifest {str(path)!r} was edited or truncated: its content hashes to {manifest.content_sha256}, "
                f"its header records {meta.get('content_sha256')}"
            )
        return manifest

    def verify(self, root: str | Path, mode: str = "size") -> None:
        """Check every listed file under ``root``: ``size`` (exists, same size; fast) or ``sha256`` (full)."""
        if mode not in ("size", "sha256"):
            raise BenchError(f"manifest verification mode {mode!r} is invalid; valid modes are ['size', 'sha256']")
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"dataset root {str(root)!r} does not exist or is not a directory")
        missing, wrong = [], []
        for entry in self.entries:
            file = root / entry.path
            try:
                size = file.stat().st_size
                if size != entry.size:
                    wrong.append(f"{entry.path} (size {size}, manifest {entry.size})")
                elif mode == "sha256" and entry.sha256 and sha256_of(file) != entry.sha256:
                    wrong.append(f"{entry.path} (content differs)")
            except FileNotFoundError:
                missing.append(entry.path)
            except OSError as err:  # e.g. no read permission: as unusable as a changed file
                wrong.append(f"{entry.path} (unreadable: {err.strerror or err})")
        if missing or wrong:
            raise ManifestMismatch(
                f"data under {str(root)!r} does not match manifest {self.name!r} ({len(self.entries)} files): "
                f"{len(missing)} missing {missing[:5]}, {len(wrong)} different {wrong[:5]}; "
                "refusing to train on other data than the manifest names"
            )


def _parse_entry(line: str, columns: tuple[str, ...], num_classes: int) -> ManifestEntry:
    """One entry line, every field checked (a ValueError says which and why)."""
    fields = line.split("\t")
    if len(fields) != len(columns):
        raise ValueError(f"{len(fields)} tab-separated fields, expected {len(columns)} ({', '.join(columns)})")
    split, rel, label, size, sha = fields[:5]
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {list(SPLITS)}")
    if not rel or rel.startswith("/") or ".." in Path(rel).parts:
        raise ValueError(f"path {rel!r} must be relative to the dataset root, without '..'")
    numbers = {}
    for key, text in zip(("label", "size", "frames"), (label, size, *fields[5:])):
        if not (text.isascii() and text.isdigit()):  # digits only: refuses '-1', '1.5', 'nan'
            raise ValueError(f"{key} {text!r} is not a non-negative integer")
        numbers[key] = int(text)
    if numbers["label"] >= num_classes:
        raise ValueError(f"label {numbers['label']} is out of range for {num_classes} classes")
    if sha and not _SHA256.match(sha):
        raise ValueError(f"sha256 {sha!r} is not 64 lowercase hex digits (or empty)")
    return ManifestEntry(split, rel, numbers["label"], numbers["size"], sha, numbers.get("frames"))


def file_facts(path: Path, hash_file: bool) -> tuple[int, str]:
    """(size, sha256 or "") of a dataset file for its manifest entry; an unreadable file is an error naming it."""
    try:
        return path.stat().st_size, sha256_of(path) if hash_file else ""
    except OSError as err:
        raise DataError(f"dataset file {str(path)!r} cannot be read ({err.strerror or err})") from None


def dataset_identity(path: str | Path) -> str:
    """The identity of the data a job trains on: the content hash of its (checked) manifest.

    Every copy of the same files gives the same identity, wherever it lives.
    """
    return Manifest.read(path).content_sha256


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def select_imagenet_subset(
    layout: ImageNetLayout,
    name: str,
    num_classes: int,
    per_class: int,
    seed: int = 0,
    min_class_images: int | None = None,
    hash_files: bool = True,
) -> Manifest:
    """Choose ``num_classes`` x ``per_class`` training images (and the classes' val images) deterministically.

    Raises:
        BenchError: a count below 1 or a negative seed (named with its tool option), or a copy without
            enough eligible classes.
    """
    check_int("num_classes (--classes)", num_classes, 1)
    check_int("per_class (--per-class)", per_class, 1)
    check_int("seed (--seed)", seed, 0)  # the manifest header records it as digits
    threshold = per_class if min_class_images is None else min_class_images
    if threshold < per_class:
        raise BenchError(f"min_class_images={threshold} (--min-class-images) is below per_class={per_class} "
                         "(--per-class); it must be at least per_class")
    eligible = [w for w, files in layout.train.items() if len(files) >= threshold and layout.val.get(w)]
    if len(eligible) < num_classes:
        raise BenchError(
            f"{str(layout.root)!r} has {len(eligible)} classes with >= {threshold} training images and val images; "
            f"subset {name!r} needs {num_classes}; {_what_fits(layout, num_classes, per_class)}"
        )
    classes = tuple(sorted(sorted(eligible, key=lambda w: _rank(seed, w))[:num_classes]))
    entries: list[ManifestEntry] = []
    for label, wnid in enumerate(classes):
        chosen = sorted(sorted(layout.train[wnid], key=lambda p: _rank(seed, p))[:per_class])
        entries += _entries(layout.root, "train", chosen, label, hash_files)
    for label, wnid in enumerate(classes):
        entries += _entries(layout.root, "val", layout.val[wnid], label, hash_files)
    return Manifest(name, "imagenet", seed, threshold, classes, tuple(entries))


def _what_fits(layout: ImageNetLayout, num_classes: int, per_class: int) -> str:
    """Which manifest-tool options would work on this copy (a small copy needs lower ones)."""
    sizes = sorted((len(layout.train[w]) for w in layout.train if layout.val.get(w)), reverse=True)
    if len(sizes) < num_classes:
        return (f"the copy has {len(sizes)} classes in all: make a smaller subset with --name NAME "
                f"--classes {len(sizes)} --per-class N --min-class-images N")
    most = sizes[num_classes - 1]
    if per_class <= most:
        return (f"pass --min-class-images {most} (or lower, but not below --per-class {per_class}) to choose among "
                "the classes this copy has; the subset then differs from the standard one")
    return (f"its {num_classes} largest classes have at most {most} training images each, fewer than the {per_class} "
            f"this subset takes: make a smaller one with --name NAME --classes {num_classes} --per-class {most} "
            f"--min-class-images {most}")


def _entries(root: Path, split: str, paths: Iterable[str], label: int, hash_files: bool) -> list[ManifestEntry]:
    out = []
    for rel in paths:
        file = root / rel
        out.append(ManifestEntry(split, rel, label, *file_facts(file, hash_files)))
    return out
