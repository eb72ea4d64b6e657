"""Tiny generated datasets in the real datasets' on-disk formats, with LEARNABLE content.

They are the tests' data and the embedded default for a first run (``data=toy``):

- ``imagenet``: JPEG class folders ``train/<wnid>/*.JPEG`` and a FLAT val with a
  devkit (``meta.mat`` + ground-truth file); class = colour and shape of an object
  (see :mod:`tasks.toydata.imagenet`); toy manifests under ``manifests/``;
- ``cityscapes`` / ``cityscapes_4x``: ``leftImg8bit`` / ``gtFine`` PNG pairs with real
  Cityscapes label ids; each class has its own colour (:mod:`tasks.toydata.cityscapes`);
- ``hmdb51``: AVI clips (PyAV) in class folders and official-style split files;
  class = shape and motion direction (:mod:`tasks.toydata.hmdb51`); its manifest
  under ``manifests/``.

Generation is deterministic and happens once per root (a marker file records the
version; a file lock keeps concurrent jobs from generating twice).

``scale`` multiplies the number of samples (never their size) so that GPU-sized
batches get many steps per epoch (``benchmarks/gpu_suite.py`` uses x8); the marker
records it (``imagenet v3 x8``) and so does the dataset identity. Scale 1 is the
default toy, its marker and identity unchanged.
"""

from __future__ import annotations

import fcntl
import importlib
import re
from collections.abc import Callable
from pathlib import Path

from bench.errors import BenchError

TOY_VERSION = "3"  # 3: the toy HMDB51 has a manifest (decodable frame counts)
SYNTHETIC_BANNER = (
    "=" * 78 + "\n"
    "SYNTHETIC DATA: this job trains on a tiny GENERATED dataset (data=toy), not on the real\n"
    "dataset. Its metrics say nothing about the architecture; use it to check the pipeline.\n" + "=" * 78
)


_GENERATORS = {
    "imagenet": ("tasks.toydata.imagenet", "generate"),
    "cityscapes": ("tasks.toydata.cityscapes", "generate_full"),
    "cityscapes_4x": ("tasks.toydata.cityscapes", "generate_4x"),
    "hmdb51": ("tasks.toydata.hmdb51", "generate"),
}


def _generator(dataset: str) -> Callable[..., None]:
    module, name = _GENERATORS[dataset]
    return getattr(importlib.import_module(module), name)


def _marker_text(dataset: str, scale: int) -> str:
    return f"{dataset} v{TOY_VERSION}" + (f" x{scale}" if scale != 1 else "")


def toy_scale(root: str | Path) -> int:
    """The sample multiplier of the toy set under ``root`` (1 when none or the default toy is there)."""
    marker = Path(root).expanduser() / ".toy-complete"
    found = re.fullmatch(r"\S+ v\S+ x(\d+)", marker.read_text().strip()) if marker.exists() else None
    return int(found.group(1)) if found else 1


def ensure_toy(dataset: str, root: str | Path, scale: int | None = None) -> Path:
    """Generate the toy ``dataset`` under ``root`` unless it is already there; return ``root``.

    ``scale=None`` (what a job asks) accepts the current version at any scale and generates
    scale 1 when nothing is there; an explicit ``scale`` must match what is there.

    Example:
        >>> import tempfile
        >>> root = ensure_toy("imagenet", tempfile.mkdtemp())
        >>> sorted(p.name for p in root.iterdir())
        ['.toy-complete', '.toy-lock', 'ILSVRC2012_devkit_t12', 'manifests', 'train', 'val']
    """
    if dataset not in _GENERATORS:
        raise BenchError(f"no toy generator for dataset {dataset!r}; valid are {sorted(_GENERATORS)}")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int) or scale < 1):
        raise BenchError(f"toy scale must be an integer >= 1, not {scale!r}")
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    marker = root / ".toy-complete"
    with open(root / ".toy-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            found = marker.read_text().strip()
            have = toy_scale(root)
            if found == _marker_text(dataset, have) and scale in (None, have):
                return root
            if found.split(" v")[0] != dataset:
                raise BenchError(f"{str(root)!r} holds toy data {found!r}, not {dataset!r}; use another toy root")
            if found.split(" x")[0] == _marker_text(dataset, 1):
                # Same version, another scale: regenerating over it would leave the larger set's extra files.
                raise BenchError(f"{str(root)!r} holds toy data {found!r}, not scale {scale}; use another toy root")
            marker.unlink()  # an older version of the same toy set: regenerate it over the old files
        _generator(dataset)(root, scale=scale or 1)
        marker.write_text(_marker_text(dataset, scale or 1) + "\n")
    return root
