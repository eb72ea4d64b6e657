"""KITTI files: round trips through the toy generator, and errors that name the file and line."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.det3d.boxes import camera_to_lidar, lidar_to_camera
from tasks.det3d.kitti import KittiFormatError, read_calib, read_labels, read_split
from tasks.det3d.toy import generate, toy_calibration


def test_toy_set_reads_back(tmp_path):
    root = generate(tmp_path, train_frames=2, val_frames=1)
    assert read_split(root, "train") == ["000000", "000001"]
    labels = read_labels(root / "training" / "label_2" / "000000.txt")
    assert "DontCare" in labels.names and len(labels) >= 3
    calib = read_calib(root / "training" / "calib" / "000000.txt")
    np.testing.assert_allclose(calib.P2, toy_calibration().P2)


def test_lidar_camera_round_trip():
    calib = toy_calibration()
    boxes = np.array([[10.0, 2.0, -0.9, 3.9, 1.6, 1.56, 0.4], [20.0, -3.0, -0.8, 0.8, 0.6, 1.7, -2.0]])
    np.testing.assert_allclose(camera_to_lidar(lidar_to_camera(boxes, calib), calib), boxes, atol=1e-9)


def test_parse_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "000007.txt"
    bad.write_text("Car 0 0 0 1 2 3 4 1.5 1.6 3.9 1 2 3 0.1\nCar 0 0 zero 1 2 3 4 1.5 1.6 3.9 1 2 3 0.1\n")
    with pytest.raises(KittiFormatError, match=r"000007.txt:2: non-numeric"):
        read_labels(bad)
    bad.write_text("Car 0 0\n")
    with pytest.raises(KittiFormatError, match=r"000007.txt:1: expected 15"):
        read_labels(bad)
    calib = tmp_path / "calib.txt"
    calib.write_text("P2: 1 2 3\n")
    with pytest.raises(KittiFormatError, match="R0_rect|P2 has 3"):
        read_calib(calib)
