"""3D detection (setting ``det3d``): PointPillars on KITTI with the code's network as backbone (docs/det3d.md)."""
