"""Pieces the task modules share: top-level recipe keys, data preparation, manifests, top-k."""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset

from bench.errors import BenchError
from tasks.api import JobSpec
from tasks.data.manifest import Manifest
from tasks.engine.distributed import all_reduce_sum
from tasks.engine.recipe import COMMON_SECTIONS
from tasks.engine.sampler import shard_indices
from tasks.toydata import SYNTHETIC_BANNER, ensure_toy

log = logging.getLogger("tasks.train")
MANIFEST_DIR = Path(__file__).resolve().parents[1] / "data_manifests"
IDENTITY_KEYS = ("setting", "task", "dataset")


def check_top_level(config: Mapping[str, Any], task_keys: Iterable[str]) -> None:
    """Every top-level recipe key must be known: a typo must not be silently ignored."""
    valid = set(IDENTITY_KEYS) | set(COMMON_SECTIONS) | set(task_keys)
    unknown = sorted(set(config) - valid)
    if unknown:
        raise BenchError(f"unknown top-level recipe key(s) {unknown}; valid keys are {sorted(valid)}")
    missing = sorted(set(task_keys) - set(config))
    if missing:
        raise BenchError(f"recipe is missing key(s) {missing}")


@dataclass(frozen=True)
class DataConfig:
    """Where the samples come from.

    ``kind``: ``real`` (your copy at ``spec.data_root``) or ``toy`` (generated there on demand);
    ``manifest``: a manifest name (in ``data_manifests/``, or the toy root's ``manifests/``) or a path;
    ``verify``: ``size`` (every file exists with its size; fast) or ``sha256`` (full content);
    ``decode``: ``auto`` (on the device when it is a GPU), ``device`` or ``cpu``.
    """

    kind: str = "real"
    manifest: str | None = None
    verify: str = "size"
    decode: str = "auto"

    def __post_init__(self) -> None:
        for key, value, valid in (
            ("kind", self.kind, ("real", "toy")),
            ("verify", self.verify, ("size", "sha256")),
            ("decode", self.decode, ("auto", "device", "cpu")),
        ):
            if value not in valid:
                raise BenchError(f"recipe key data.{key}={value!r} is invalid; valid values are {list(valid)}")


def prepare_root(spec: JobSpec, kind: str, dataset: str) -> dict[str, Any]:
    """Check (real) or generate (toy) the dataset root; returns info for the result.

    A toy run says loudly, on stderr and in the log, that its data is synthetic.
    """
    root = Path(spec.data_root).expanduser()
    if kind == "toy":
        ensure_toy(dataset, root)
        print(SYNTHETIC_BANNER, file=sys.stderr, flush=True)
        log.warning("SYNTHETIC DATA: training on the generated toy %s under %s", dataset, root)
        return {"synthetic_data": True}
    if not root.is_dir():
        raise BenchError(
            f"{dataset} root {str(root)!r} does not exist; point data.roots.{dataset} at your copy "
            "(or run with data=toy for the generated tiny dataset)"
        )
    return {"synthetic_data": False}


def manifest_path(spec: JobSpec, data: DataConfig) -> Path:
    if data.manifest is None:
        raise BenchError("recipe key data.manifest is not set; name a manifest (e.g. cls-50-1000) or give its path")
    if data.manifest.endswith(".tsv") or "/" in data.manifest:
        return Path(data.manifest).expanduser()
    folder = Path(spec.data_root).expanduser() / "manifests" if data.kind == "toy" else MANIFEST_DIR
    return folder / f"{data.manifest}.tsv"


def load_manifest(spec: JobSpec, data: DataConfig, expected_classes: int) -> tuple[Manifest, dict[str, Any]]:
    """Prepare the root, read the manifest and verify the data against it (refusing any mismatch)."""
    info = prepare_root(spec, data.kind, "imagenet")
    path = manifest_path(spec, data)
    if not path.is_file():
        raise BenchError(
            f"manifest {str(path)!r} does not exist; create it from your copy with "
            f"`python -m tasks.manifest imagenet --root {spec.data_root}`"
        )
    manifest = Manifest.read(path)
    if len(manifest.classes) != expected_classes:
        raise BenchError(
            f"manifest {manifest.name!r} has {len(manifest.classes)} classes but the recipe's num_classes is "
            f"{expected_classes}; they must agree"
        )
    manifest.verify(spec.data_root, data.verify)
    info.update(
        manifest=manifest.name,
        manifest_sha256=manifest.content_sha256,
        train_samples=len(manifest.split("train")),
        eval_samples=len(manifest.split("val")),
    )
    return manifest, info


def file_list_hash(root: str | Path, paths: Iterable[str]) -> str:
    """sha256 over (path, size) of every file: the provenance of a dataset without a manifest."""
    digest = hashlib.sha256()
    for rel in paths:
        digest.update(f"{rel}\t{(Path(root) / rel).stat().st_size}\n".encode())
    return digest.hexdigest()


def resolve_decode(choice: str, device: torch.device) -> str:
    """``device`` or ``cpu``: where images are decoded (``auto`` = on the GPU when there is one)."""
    if choice == "auto":
        return "device" if device.type == "cuda" else "cpu"
    return choice


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...]) -> list[int]:
    """Number of samples whose label is among the top-k logits, per k (k capped at the class count).

    Example:
        >>> topk_correct(torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]]), torch.tensor([1, 2]), (1, 2))
        [1, 1]
    """
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hit = top == labels.unsqueeze(1)
    return [int(hit[:, : min(k, logits.shape[1])].any(dim=1).sum()) for k in ks]


def evaluate_topk(task: Any, model: torch.nn.Module, env: Any, autocast: Any, batch_size: int) -> dict[str, float]:
    """top1 and top5 (percent) of ``model`` on ``task.val_set``, each rank scoring its shard.

    ``task`` is a classification-style :class:`~tasks.engine.loop.TrainTask` (``val_set``,
    ``collate``, ``prepare_batch``); counts are summed across the job's ranks.
    """
    loader = DataLoader(
        Subset(task.val_set, shard_indices(len(task.val_set), env.rank, env.world_size)),
        batch_size=max(1, batch_size),
        num_workers=task.spec.config["runtime"].get("workers", 0),
        collate_fn=task.collate,
    )
    counts = torch.zeros(3, dtype=torch.float64, device=env.device)  # top1 hits, top5 hits, samples
    for batch in loader:
        inputs, labels = task.prepare_batch(batch, env.device, train=False)
        with autocast():
            logits = model(inputs)
        hits = topk_correct(logits.float(), labels, (1, 5))
        counts += torch.tensor([hits[0], hits[1], labels.numel()], dtype=torch.float64, device=env.device)
    all_reduce_sum(counts, env)
    return {"top1": 100.0 * float(counts[0] / counts[2]), "top5": 100.0 * float(counts[1] / counts[2])}
