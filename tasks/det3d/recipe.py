"""The det3d recipe (``conf/task/det3d.yaml``) as typed, validated objects.

The recipe is a plain dict (the resolved Hydra ``task`` node; under ``data=toy``
``conf/smoke/toy_det3d.yaml`` is layered on it). Unknown keys and bad values fail at once,
naming the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

from bench.errors import BenchError
from tasks.det3d.anchors import AnchorSpec
from tasks.det3d.augment import AugmentConfig
from tasks.det3d.detector import DetectorConfig

KNOWN_SECTIONS = ("setting", "dataset", "model", "data", "augment", "optim", "schedule", "eval", "checkpoint", "runtime")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping: AdamW and OpenPCDet's one-cycle policy (see :func:`one_cycle`)."""

    epochs: int
    batch_size: int  # total over all devices
    lr_max: float
    weight_decay: float
    div_factor: float = 10.0  # start (and end of the warm-up's mirror) at lr_max / div_factor
    final_div_factor: float = 1e4  # end at lr_max / div_factor / final_div_factor
    pct_start: float = 0.4
    moms: tuple[float, float] = (0.95, 0.85)  # AdamW beta1 cycles high -> low -> high
    grad_clip: float = 10.0
    eval_interval: int = 10  # epochs; always at the end too
    keep_last: int = 5  # epoch checkpoints kept
    workers: int = 4

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_interval", "keep_last"):
            if getattr(self, name) < 1:
                raise BenchError(f"det3d recipe: {name}={getattr(self, name)} must be >= 1")
        if not 0 < self.pct_start < 1:
            raise BenchError(f"det3d recipe: schedule.pct_start={self.pct_start} must be in (0, 1)")


def one_cycle(iteration: int, total: int, cfg: TrainConfig) -> tuple[float, float]:
    """(learning rate, beta1) at ``iteration`` of ``total``: cosine warm-up from lr_max / div_factor to
    lr_max over ``pct_start`` of training, then cosine annealing to lr_max / div_factor / final_div_factor;
    beta1 moves oppositely between ``moms``. The same curve as ``torch.optim.lr_scheduler.OneCycleLR``
    and OpenPCDet's ``adam_onecycle``.

    Example:
        >>> cfg = TrainConfig(epochs=1, batch_size=1, lr_max=2e-3, weight_decay=0.01)
        >>> [round(one_cycle(i, 10, cfg)[0], 6) for i in (0, 4, 10)]
        [0.0002, 0.002, 0.0]
    """
    low = cfg.lr_max / cfg.div_factor
    end = low / cfg.final_div_factor
    warm = max(1.0, cfg.pct_start * total)
    t = min(iteration, total)
    cos = lambda a, b, f: b + (a - b) * (1 + math.cos(math.pi * f)) / 2  # noqa: E731  from a (f=0) to b (f=1)
    if t <= warm:
        f = t / warm
        return cos(low, cfg.lr_max, f), cos(cfg.moms[0], cfg.moms[1], f)
    f = (t - warm) / max(1.0, total - warm)
    return cos(cfg.lr_max, end, f), cos(cfg.moms[1], cfg.moms[0], f)


def _section(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = config.get(name, {}) or {}
    if not isinstance(value, Mapping):
        raise BenchError(f"det3d recipe: section {name!r} must be a mapping, got {value!r}")
    return dict(value)


def _only(section: dict[str, Any], name: str, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise BenchError(f"det3d recipe: unknown key(s) {unknown} in {name!r}; valid keys are {sorted(allowed)}")


def check_sections(config: Mapping[str, Any]) -> None:
    """Fail on unknown top-level sections and unknown ``data`` keys."""
    unknown = sorted(set(config) - set(KNOWN_SECTIONS))
    if unknown:
        raise BenchError(f"det3d recipe: unknown section(s) {unknown}; valid sections are {list(KNOWN_SECTIONS)}")
    _only(_section(config, "data"), "data", ("kind", "train_split", "val_split"))


def is_toy(config: Mapping[str, Any]) -> bool:
    """Whether the job runs on the generated toy set (``data.kind: toy``, set by ``data=toy``)."""
    return _section(config, "data").get("kind", "real") == "toy"


def parse_detector(config: Mapping[str, Any]) -> DetectorConfig:
    """The ``model`` section -> :class:`DetectorConfig`."""
    model = _section(config, "model")
    allowed = tuple(f.name for f in fields(DetectorConfig) if f.name != "losses")
    _only(model, "model", allowed)
    anchors = []
    for i, a in enumerate(model.pop("anchors", [])):
        _only(dict(a), f"model.anchors[{i}]", ("name", "size", "bottom", "matched", "unmatched", "rotations"))
        anchors.append(AnchorSpec(
            name=str(a["name"]), size=tuple(float(v) for v in a["size"]), bottom=float(a["bottom"]),
            matched=float(a["matched"]), unmatched=float(a["unmatched"]),
            rotations=tuple(float(r) for r in a.get("rotations", (0.0, math.pi / 2))),
        ))
    if not anchors:
        raise BenchError("det3d recipe: model.anchors must list at least one class")
    try:
        return DetectorConfig(
            point_range=tuple(float(v) for v in model.pop("point_range")),
            pillar_size=tuple(float(v) for v in model.pop("pillar_size")),
            anchors=tuple(anchors),
            **model,
        )
    except KeyError as err:
        raise BenchError(f"det3d recipe: model.{err.args[0]} is missing") from None


def parse_augment(config: Mapping[str, Any]) -> AugmentConfig:
    aug = _section(config, "augment")
    _only(aug, "augment", tuple(f.name for f in fields(AugmentConfig)))
    if "scaling" in aug:
        aug["scaling"] = tuple(float(v) for v in aug["scaling"])
    return AugmentConfig(**aug)


def parse_train(config: Mapping[str, Any]) -> TrainConfig:
    """``optim``, ``schedule``, ``eval``, ``checkpoint`` and ``runtime`` -> :class:`TrainConfig`."""
    optim, sched = _section(config, "optim"), _section(config, "schedule")
    ev, ck, rt = _section(config, "eval"), _section(config, "checkpoint"), _section(config, "runtime")
    _only(optim, "optim", ("name", "lr", "weight_decay", "grad_clip"))
    _only(sched, "schedule", ("unit", "length", "policy", "div_factor", "final_div_factor", "pct_start", "moms"))
    _only(ev, "eval", ("interval",))
    _only(ck, "checkpoint", ("keep_last",))
    _only(rt, "runtime", ("batch_size", "gpus", "workers"))
    if optim.get("name", "adamw") != "adamw" or sched.get("policy", "onecycle") != "onecycle" or sched.get("unit", "epoch") != "epoch":
        raise BenchError(f"det3d recipe: supported are optim.name=adamw, schedule.policy=onecycle, schedule.unit=epoch; got "
                         f"{optim.get('name')!r}, {sched.get('policy')!r}, {sched.get('unit')!r}")
    try:
        return TrainConfig(
            epochs=int(sched["length"]), batch_size=int(rt["batch_size"]), lr_max=float(optim["lr"]),
            weight_decay=float(optim.get("weight_decay", 0.01)), div_factor=float(sched.get("div_factor", 10.0)),
            final_div_factor=float(sched.get("final_div_factor", 1e4)), pct_start=float(sched.get("pct_start", 0.4)),
            moms=tuple(float(m) for m in sched.get("moms", (0.95, 0.85))), grad_clip=float(optim.get("grad_clip", 10.0)),
            eval_interval=int(ev.get("interval", 10)), keep_last=int(ck.get("keep_last", 5)), workers=int(rt.get("workers", 4)),
        )
    except KeyError as err:
        raise BenchError(f"det3d recipe: required key {err.args[0]!r} is missing (schedule.length, runtime.batch_size, optim.lr)") from None


def toy_detector_config() -> DetectorConfig:
    """A small model for tests and benchmarks: a 25.6 m x 25.6 m range in 0.32 m pillars (80 x 80), standard anchors
    (the toy smoke recipe, conf/smoke/toy_det3d.yaml, uses coarser 0.64 m pillars to train in ~2 CPU minutes)."""
    return DetectorConfig(
        point_range=(0.0, -12.8, -3.0, 25.6, 12.8, 1.0), pillar_size=(0.32, 0.32), max_pillars_train=4000,
        max_pillars_test=4000, max_points=32, head_stride=2,
        anchors=(
            AnchorSpec("Car", (3.9, 1.6, 1.56), -1.78, 0.6, 0.45),
            AnchorSpec("Pedestrian", (0.8, 0.6, 1.73), -0.6, 0.5, 0.35),
            AnchorSpec("Cyclist", (1.76, 0.6, 1.73), -0.6, 0.5, 0.35),
        ),
    )
