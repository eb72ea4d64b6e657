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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from tasks.data.imagenet import ImageNetLayout
from tasks.engine.checkpoint import sha256_of

FORMAT_LINE = "# nasbench-mr manifest v1"
COLUMNS = ("split", "path", "label", "size", "sha256")

STANDARD_SUBSETS = {
    "cls-50-1000": (50, 1000),
    "cls-50-100": (50, 100),
    "cls-10-1000": (10, 1000),
}
"""Manifest name -> (classes, training images per class), the paper's Cls-A, Cls-B and Cls-C."""


class ManifestMismatch(BenchError):
    """The data on disk is not the data the manifest names."""


@dataclass(frozen=True)
class ManifestEntry:
    split: str
    path: str
    label: int
    size: int
    sha256: str  # "" when the manifest was written without file hashes

    def line(self) -> str:
        return "\t".join((self.split, self.path, str(self.label), str(self.size), self.sha256))


@dataclass(frozen=True)
class Manifest:
    """A named subset: its classes (label order) and entries."""

    name: str
    dataset: str
    seed: int
    min_class_images: int
    classes: tuple[str, ...]
    entries: tuple[ManifestEntry, ...]

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
        header = [
            FORMAT_LINE,
            f"# name: {self.name}",
            f"# dataset: {self.dataset}",
            f"# seed: {self.seed}",
            f"# min_class_images: {self.min_class_images}",
            f"# classes: {' '.join(self.classes)}",
            f"# content_sha256: {self.content_sha256}",
            "\t".join(COLUMNS),
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
            raise BenchError(f"manifest {str(path)!r} does not exist; create it with `python -m tasks.manifest`")
        lines = path.read_text(encoding="utf-8").splitlines()
        if not lines or lines[0] != FORMAT_LINE:
            raise BenchError(f"{str(path)!r} is not a manifest (first line must be {FORMAT_LINE!r})")
        meta: dict[str, str] = {}
        body = []
        for line in lines[1:]:
            if line.startswith("# "):
                key, _, value = line[2:].partition(": ")
                meta[key] = value
            elif line and line != "\t".join(COLUMNS):
                body.append(line)
        try:
            entries = []
            for line in body:
                split, rel, label, size, sha = line.split("\t")
                entries.append(ManifestEntry(split, rel, int(label), int(size), sha))
            manifest = cls(
                name=meta["name"],
                dataset=meta["dataset"],
                seed=int(meta["seed"]),
                min_class_images=int(meta["min_class_images"]),
                classes=tuple(meta["classes"].split()),
                entries=tuple(entries),
            )
        except (KeyError, ValueError) as exc:
            raise BenchError(f"manifest {str(path)!r} is malformed ({exc}); recreate it with `python -m tasks.manifest`") from None
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
            raise BenchError(f"dataset root {str(root)!r} does not exist or is not a directory")
        missing, wrong = [], []
        for entry in self.entries:
            file = root / entry.path
            try:
                size = file.stat().st_size
            except FileNotFoundError:
                missing.append(entry.path)
                continue
            if size != entry.size:
                wrong.append(f"{entry.path} (size {size}, manifest {entry.size})")
            elif mode == "sha256" and entry.sha256 and sha256_of(file) != entry.sha256:
                wrong.append(f"{entry.path} (content differs)")
        if missing or wrong:
            raise ManifestMismatch(
                f"data under {str(root)!r} does not match manifest {self.name!r} ({len(self.entries)} files): "
                f"{len(missing)} missing {missing[:5]}, {len(wrong)} different {wrong[:5]}; "
                "refusing to train on other data than the manifest names"
            )


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
    """Choose ``num_classes`` x ``per_class`` training images (and the classes' val images) deterministically."""
    threshold = per_class if min_class_images is None else min_class_images
    if threshold < per_class:
        raise BenchError(f"min_class_images={threshold} is below per_class={per_class}; it must be at least per_class")
    eligible = [w for w, files in layout.train.items() if len(files) >= threshold and layout.val.get(w)]
    if len(eligible) < num_classes:
        raise BenchError(
            f"{str(layout.root)!r} has {len(eligible)} classes with >= {threshold} training images and val images; "
            f"subset {name!r} needs {num_classes}"
        )
    classes = tuple(sorted(sorted(eligible, key=lambda w: _rank(seed, w))[:num_classes]))
    entries: list[ManifestEntry] = []
    for label, wnid in enumerate(classes):
        chosen = sorted(sorted(layout.train[wnid], key=lambda p: _rank(seed, p))[:per_class])
        entries += _entries(layout.root, "train", chosen, label, hash_files)
    for label, wnid in enumerate(classes):
        entries += _entries(layout.root, "val", layout.val[wnid], label, hash_files)
    return Manifest(name, "imagenet", seed, threshold, classes, tuple(entries))


def _entries(root: Path, split: str, paths: Iterable[str], label: int, hash_files: bool) -> list[ManifestEntry]:
    out = []
    for rel in paths:
        file = root / rel
        out.append(ManifestEntry(split, rel, label, file.stat().st_size, sha256_of(file) if hash_files else ""))
    return out
