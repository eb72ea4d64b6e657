"""The benchmark's settings: one registered :class:`Setting` holds everything about each.

A setting is a task on a dataset under one recipe (SPEC section 4). Everything
that needs to know about settings reads this registry: the training launchers
(which task type trains it, what it initialises from), the store (schema
columns, the published file name, how codes are stored), the export (main
metric, the task network's cost convention), the scheduler (dependencies) and
the search (metrics, search space, the paper's predictor quality). Adding a
setting is one :func:`register_setting` call plus its recipe
(``conf/task/<name>.yaml``); see docs/architecture.md.

Example:
    >>> get_setting("video_p").init_from, get_setting("seg").main_metric
    ('cls_a', 'mIoU')
    >>> setting_names(trainable=True)[:4]
    ['cls_a', 'cls_b', 'cls_c', 'cls_10c']
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.cost import CostSpec
from bench.errors import BenchError
from bench.registry import Registry

SPACES = ("nasbench_mr", "nb201")
"""Search spaces whose codes a setting can hold: NAS-Bench-MR's 27 integers, NAS-Bench-201's 30-dim one-hot."""


@dataclass(frozen=True)
class Setting:
    """One benchmark setting.

    - ``name``: ours (a Python identifier, the Hydra ``task=`` choice); ``official_name``: the
      published file's name (``cls-50-1000``);
    - ``task``: the task type that trains it (a key of the task registry the launchers build from
      ``tasks``), or None for a setting that is only imported (nb201);
    - ``metrics``: the paper's metric names, ``main_metric`` the one NCP optimises and exports rank by;
    - ``cost``: how the setting's OWN network is counted (its task head, classes, frames; the
      benchmark's 1 x C x 128 x 128 input); the published ``gflops`` column is always the
      classification convention (:data:`bench.cost.BENCHMARK_SPEC`);
    - ``init_from``: a setting whose final checkpoint of the SAME code and seed initialises this
      setting's backbone (video_p: cls_a), so it must be trained first;
    - ``space``: the search space of its codes;
    - ``paper_predictor_mae``: the predictor's validation L1 the paper reports (SPEC section 5);
    - ``published_renames``: (name in the published file, our name) for metrics the authors'
      file names differently (their 3ddet file names its car 3D levels bare: ``moderate``);
    - ``train_samples``: training samples per epoch of the real dataset (SPEC section 4), for an
      epoch-based recipe's cost plan; None where the schedule counts iterations (seg).
    """

    name: str
    official_name: str
    task: str | None
    metrics: tuple[str, ...]
    main_metric: str
    cost: CostSpec | None = None
    init_from: str | None = None
    space: str = "nasbench_mr"
    paper_predictor_mae: float | None = None
    published_renames: tuple[tuple[str, str], ...] = ()
    train_samples: int | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or not self.name.islower():
            raise BenchError(f"setting name {self.name!r} is invalid; valid is a lower-case Python identifier")
        if self.main_metric not in self.metrics:
            raise BenchError(f"setting {self.name!r}: main_metric {self.main_metric!r} is not one of {list(self.metrics)}")
        if self.space not in SPACES:
            raise BenchError(f"setting {self.name!r}: space {self.space!r} is invalid; valid spaces are {list(SPACES)}")
        if self.task is not None and self.space != "nasbench_mr":
            raise BenchError(f"setting {self.name!r}: only NAS-Bench-MR codes can be trained here (space={self.space!r})")

    @property
    def trainable(self) -> bool:
        """Whether this project can train it (else it is only imported)."""
        return self.task is not None


SETTINGS: Registry[Setting] = Registry("setting")
"""Every setting, in the paper's order (registration order)."""


def register_setting(setting: Setting) -> Setting:
    """Add ``setting``; its ``init_from`` must name a setting registered before it."""
    if setting.init_from is not None:
        source = get_setting(setting.init_from)
        if source.task is None:
            raise BenchError(f"setting {setting.name!r} initialises from {source.name!r}, which is not trainable")
    return SETTINGS.register(setting.name)(setting)


def get_setting(name: str) -> Setting:
    """The registered setting ``name``; an unknown name raises an error listing the valid ones."""
    return SETTINGS.get(name)


def setting_names(*, space: str | None = None, trainable: bool | None = None) -> list[str]:
    """Registered setting names in the paper's order, optionally only one space or only trainable ones."""
    return [
        s.name
        for s in SETTINGS.values()
        if (space is None or s.space == space) and (trainable is None or s.trainable == trainable)
    ]


def dependents(name: str) -> list[str]:
    """Settings that initialise from ``name`` (they must be trained after it)."""
    return [s.name for s in SETTINGS.values() if s.init_from == name]


def _det3d_metrics() -> tuple[str, ...]:
    return tuple(
        f"{cls}_{view}_{level}"
        for cls in ("car", "pedestrian", "cyclist")
        for view in ("3d", "bev")
        for level in ("easy", "moderate", "hard")
    )


_TOP = ("top1", "top5")
_SEG = ("mIoU", "mAcc", "aAcc")

for _setting in (
    Setting("cls_a", "cls-50-1000", "cls", _TOP, "top1", CostSpec("cls", num_classes=50), paper_predictor_mae=0.56,
            train_samples=50_000, description="ImageNet, 50 classes x 1,000 images, 100 epochs"),
    Setting("cls_b", "cls-50-100", "cls", _TOP, "top1", CostSpec("cls", num_classes=50), paper_predictor_mae=1.07,
            train_samples=5_000, description="ImageNet, 50 classes x 100 images, 100 epochs"),
    Setting("cls_c", "cls-10-1000", "cls", _TOP, "top1", CostSpec("cls", num_classes=10), paper_predictor_mae=0.83,
            train_samples=10_000, description="ImageNet, 10 classes x 1,000 images, 100 epochs"),
    Setting("cls_10c", "cls-10c", "cls", _TOP, "top1", CostSpec("cls", num_classes=50), paper_predictor_mae=1.05,
            train_samples=50_000, description="Cls-A's data, 10 epochs"),
    Setting("seg", "seg", "seg", _SEG, "mIoU", CostSpec("seg", num_classes=19), paper_predictor_mae=0.75,
            description="Cityscapes fine, 512x1024 crops, 25,000 iterations"),
    Setting("seg_4x", "seg-4x", "seg", _SEG, "mIoU", CostSpec("seg", num_classes=19), paper_predictor_mae=0.88,
            description="Cityscapes pre-resized to 256x512, 25,000 iterations"),
    Setting("det3d", "3ddet", "det3d", _det3d_metrics(), "car_3d_moderate", CostSpec("det", in_channels=64),
            paper_predictor_mae=0.85, train_samples=3_712,
            description="KITTI, PointPillars with the code's network as BEV backbone",
            published_renames=(("easy", "car_3d_easy"), ("moderate", "car_3d_moderate"), ("hard", "car_3d_hard"))),
    Setting("video", "video", "video", _TOP, "top1", CostSpec("video", num_classes=51, frames=8),
            paper_predictor_mae=1.07, train_samples=2_649, description="HMDB51 split 1, 100 epochs"),
    Setting("video_p", "video-p", "video", _TOP, "top1", CostSpec("video", num_classes=51, frames=8),
            init_from="cls_a", paper_predictor_mae=1.26, train_samples=2_649,
            description="as video, backbone from the same code's cls_a"),
    Setting("nb201", "nas-bench-201", None, ("Acc",), "Acc", space="nb201",
            description="NAS-Bench-201 (ImageNet-16-120) as the NCP authors published it; imported only"),
):
    register_setting(_setting)
