"""Pieces the task modules share: data preparation, dataset identity, manifests, top-k evaluation."""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset

from bench.errors import BenchError
from bench.job import JobSpec
from tasks.data.manifest import Manifest
from tasks.engine.distributed import all_reduce_sum
from tasks.engine.sampler import shard_indices
from tasks.toydata import SYNTHETIC_BANNER, TOY_VERSION, ensure_toy, toy_scale

log = logging.getLogger("tasks.train")
MANIFEST_DIR = Path(__file__).resolve().parents[1] / "data_manifests"


def toy_identity(dataset: str, root: str | Path | None = None, version: str = TOY_VERSION) -> str:
    """The dataset identity of a generated toy set: ``synthetic:<dataset>-toy-v<version>``, with ``-x<scale>``
    when ``root`` holds a scaled-up one (:func:`tasks.toydata.ensure_toy`).

    Example:
        >>> toy_identity("imagenet")
        'synthetic:imagenet-toy-v3'
    """
    scale = toy_scale(root) if root is not None else 1
    return f"synthetic:{dataset}-toy-v{version}" + (f"-x{scale}" if scale != 1 else "")


def prepare_root(spec: JobSpec) -> dict[str, Any]:
    """Check (real) or generate (toy) the job's dataset root; returns info for the result.

    A toy run says loudly, on stderr and in the log, that its data is synthetic.
    """
    root = Path(spec.data.root).expanduser()
    dataset = spec.recipe.dataset
    if spec.data.synthetic:
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


def check_identity(spec: JobSpec, found: str) -> None:
    """Refuse to train when the data on disk is not the dataset the job was planned for."""
    if not spec.data.synthetic and found != spec.data.identity:
        raise BenchError(
            f"the {spec.recipe.dataset} data under {spec.data.root!r} is {found}, but this job was planned for "
            f"{spec.data.identity}: the dataset changed since; plan the job again (rerun the command)"
        )


def manifest_path(root: str | Path, synthetic: bool, manifest: str | None) -> Path:
    """Where manifest ``manifest`` is: a path, or a name in ``data_manifests/`` (the toy root's ``manifests/``)."""
    if manifest is None:
        raise BenchError("recipe key data.manifest is not set; name a manifest (e.g. cls-50-1000) or give its path")
    if manifest.endswith(".tsv") or "/" in manifest:
        return Path(manifest).expanduser()
    folder = Path(root).expanduser() / "manifests" if synthetic else MANIFEST_DIR
    return folder / f"{manifest}.tsv"


def read_manifest(root: str | Path, synthetic: bool, manifest: str | None) -> Manifest:
    """The manifest a classification recipe names (a clear error naming how to create it when absent)."""
    path = manifest_path(root, synthetic, manifest)
    if not path.is_file():
        raise BenchError(
            f"manifest {str(path)!r} does not exist; create it from your copy with "
            f"`python -m tasks.manifest imagenet --root {root}`"
        )
    return Manifest.read(path)


def file_list_hash(root: str | Path, paths: Iterable[str]) -> str:
    """sha256 over (path, size) of every file: the identity of a dataset without a manifest."""
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


def eval_batch_size(spec: JobSpec, world_size: int) -> int:
    """The recipe's ``eval.batch_size`` per device, or the training batch per device when it is 0."""
    return spec.recipe.eval.batch_size or max(1, spec.recipe.runtime.batch_size // world_size)


def evaluate_topk(task: Any, model: torch.nn.Module, env: Any, autocast: Any) -> dict[str, float]:
    """top1 and top5 (percent) of ``model`` on ``task.val_set``, each rank scoring its shard.

    ``task`` is a classification-style :class:`~tasks.engine.loop.TrainTask` (``spec``, ``val_set``,
    ``collate``, ``prepare_batch``); counts are summed across the job's ranks.
    """
    loader = DataLoader(
        Subset(task.val_set, shard_indices(len(task.val_set), env.rank, env.world_size)),
        batch_size=eval_batch_size(task.spec, env.world_size),
        num_workers=task.spec.recipe.runtime.workers,
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
