"""Registers every training job in :data:`tasks.api.JOBS` (imported by ``tasks/__init__.py``)."""

from __future__ import annotations

import importlib
import importlib.util

from tasks.api import JOBS
from tasks.classification.job import classification_job
from tasks.segmentation.job import segmentation_job
from tasks.video.job import video_job

for _setting in ("cls_a", "cls_b", "cls_c", "cls_10c"):
    JOBS.register(_setting)(classification_job)
for _setting in ("seg", "seg_4x"):
    JOBS.register(_setting)(segmentation_job)
for _setting in ("video", "video_p"):
    JOBS.register(_setting)(video_job)

# 3D detection lives in its own package (tasks/det3d, another part of the project), which
# registers "det3d" itself when imported.
if importlib.util.find_spec("tasks.det3d") is not None:
    importlib.import_module("tasks.det3d")
