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
"""

from __future__ import annotations

import fcntl
import importlib
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


def _generator(dataset: str) -> Callable[[Path], None]:
    module, name = _GENERATORS[dataset]
    return getattr(importlib.import_module(module), name)


def ensure_toy(dataset: str, root: str | Path) -> Path:
    """Generate the toy ``dataset`` under ``root`` unless it is already there; return ``root``.

    Example:
        >>> import tempfile
        >>> root = ensure_toy("imagenet", tempfile.mkdtemp())
        >>> sorted(p.name for p in root.iterdir())
        ['.toy-complete', '.toy-lock', 'ILSVRC2012_devkit_t12', 'manifests', 'train', 'val']
    """
    if dataset not in _GENERATORS:
        raise BenchError(f"no toy generator for dataset {dataset!r}; valid are {sorted(_GENERATORS)}")
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    marker = root / ".toy-complete"
    expected = f"{dataset} v{TOY_VERSION}"
    with open(root / ".toy-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            found = marker.read_text().strip()
            if found == expected:
                return root
            if found.split(" v")[0] != dataset:
                raise BenchError(f"{str(root)!r} holds toy data {found!r}, not {expected!r}; use another toy root")
            marker.unlink()  # an older version of the same toy set: regenerate it over the old files
        _generator(dataset)(root)
        marker.write_text(expected + "\n")
    return root
