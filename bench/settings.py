"""The benchmark's settings: names, the authors' names, metrics and main metric.

Names are ours (valid Python identifiers and Hydra choices); ``OFFICIAL_NAMES``
maps them to the file names the authors published.
"""

from __future__ import annotations

from bench.errors import BenchError

SETTINGS = ("cls_a", "cls_b", "cls_c", "cls_10c", "seg", "seg_4x", "det3d", "video", "video_p")
"""The nine NAS-Bench-MR settings, in the paper's order."""

OFFICIAL_NAMES = {
    "cls_a": "cls-50-1000",
    "cls_b": "cls-50-100",
    "cls_c": "cls-10-1000",
    "cls_10c": "cls-10c",
    "seg": "seg",
    "seg_4x": "seg-4x",
    "det3d": "3ddet",
    "video": "video",
    "video_p": "video-p",
}

DET3D_METRICS = tuple(
    f"{cls}_{view}_{level}"
    for cls in ("car", "pedestrian", "cyclist")
    for view in ("3d", "bev")
    for level in ("easy", "moderate", "hard")
)

METRICS: dict[str, tuple[str, ...]] = {
    **{s: ("top1", "top5") for s in ("cls_a", "cls_b", "cls_c", "cls_10c", "video", "video_p")},
    "seg": ("mIoU", "mAcc", "aAcc"),
    "seg_4x": ("mIoU", "mAcc", "aAcc"),
    "det3d": DET3D_METRICS,
    "nb201": ("Acc",),
}

MAIN_METRIC = {
    **{s: "top1" for s in ("cls_a", "cls_b", "cls_c", "cls_10c", "video", "video_p")},
    "seg": "mIoU",
    "seg_4x": "mIoU",
    "det3d": "car_3d_moderate",
    "nb201": "Acc",
}

TASK_OF = {
    **{s: "cls" for s in ("cls_a", "cls_b", "cls_c", "cls_10c")},
    "seg": "seg",
    "seg_4x": "seg",
    "det3d": "det3d",
    "video": "video",
    "video_p": "video",
}


def check_setting(name: str, allow_nb201: bool = False) -> str:
    """Return ``name`` if it is a known setting, else raise an error listing the valid ones."""
    valid = SETTINGS + (("nb201",) if allow_nb201 else ())
    if name not in valid:
        raise BenchError(f"unknown setting {name!r}; valid settings are {list(valid)}")
    return name
