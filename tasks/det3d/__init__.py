"""3D detection (setting ``det3d``): PointPillars on KITTI with the code's network as backbone.

Importing the package registers ``JOBS["det3d"]``. See docs/det3d.md.
"""

from tasks.api import JOBS
from tasks.det3d.job import det3d_job

if "det3d" not in JOBS:
    JOBS.register("det3d")(det3d_job)

__all__ = ["det3d_job"]
