"""KITTI files: round trips through the toy generator, and one-line errors naming the file for every kind of
malformed content; hidden files are never read; a whole split is validated up front."""

from __future__ import annotations

import numpy as np
import pytest

from bench.errors import DataError
from tasks.det3d.boxes import camera_to_lidar, lidar_to_camera
from tasks.det3d.kitti import (
    KittiFormatError,
    KittiFrame,
    check_points_file,
    read_calib,
    read_labels,
    read_points,
    read_split,
    validate_split,
)
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


APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02\x00\x00\x00\t\x00\x00\x002\xff\xfe"  # a ._ file's start
LABEL = "Car 0.00 0 -1.58 587.0 173.3 614.1 200.1 1.65 1.67 3.64 -0.65 1.71 46.70 -1.59\n"
CALIB_OK = ("P2: 721.5 0 609.6 44.9 0 721.5 172.9 0.2 0 0 1 0.003\nR0_rect: 1 0 0 0 1 0 0 0 1\n"
            "Tr_velo_to_cam: 0 -1 0 0 0 0 -1 -0.08 1 0 0 -0.27\n")


def _bad_frame_file(root, folder, name, content):
    path = root / "training" / folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


# (folder, file, content, what the one-line message must say), one row per kind of malformed content.
MALFORMED = [
    ("velodyne", "000000.bin", np.zeros(8, np.float32).tobytes() + b"\x00", r"33 bytes is not a multiple of 16"),
    ("velodyne", "000000.bin", np.zeros(8, np.float32).tobytes() + b"\x00\x00", r"34 bytes is not a multiple of 16"),
    ("velodyne", "000000.bin", np.array([1, 2, np.nan, 0], np.float32).tobytes(), r"point 0 .* non-finite"),
    ("label_2", "000000.txt", APPLE_DOUBLE, r"not a text file"),
    ("label_2", "000000.txt", LABEL.replace("46.70", "nan"), r":1: non-finite value"),
    ("label_2", "000000.txt", LABEL + LABEL.replace(" 0 -1.58", " 0.5 -1.58"), r":2: occlusion level must be an integer"),
    ("label_2", "000000.txt", LABEL.replace("1.65 ", ""), r":1: expected 15 or 16 fields, got 14"),
    ("calib", "000000.txt", APPLE_DOUBLE, r"not a text file"),
    ("calib", "000000.txt", CALIB_OK.replace("R0_rect: 1 0 0", "R0_rect: 0 0 0"), r"R0_rect is singular"),
    ("calib", "000000.txt", CALIB_OK.replace("44.9", "inf"), r":1: non-finite value"),
    ("calib", "000000.txt", CALIB_OK.replace("P2:", "P2 "), r":1: expected 'key: values'"),
    ("image_2", "000000.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, r"cannot read the image header"),
    ("image_2", "000000.png", APPLE_DOUBLE, r"cannot read the image header"),
]


@pytest.mark.parametrize(("folder", "name", "content", "message"), MALFORMED, ids=[f"{m[0]}-{m[3][:24]}" for m in MALFORMED])
def test_every_reader_names_the_file_and_the_fault_in_one_line(tmp_path, folder, name, content, message):
    root = generate(tmp_path, train_frames=1, val_frames=1)
    path = _bad_frame_file(root, folder, name, content)
    frame = KittiFrame(root, "000000")
    reader = {"velodyne": frame.points, "label_2": frame.labels, "calib": frame.calib, "image_2": frame.image_size}[folder]
    with pytest.raises(DataError, match=message) as caught:
        reader()
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    if "non-finite" in message and folder == "velodyne":
        validate_split(root, "train")  # point values are checked on reading: validation only sizes the scans
        return
    with pytest.raises(KittiFormatError, match=f"split 'train' .*: 1 malformed file.*{message}"):
        validate_split(root, "train")
    validate_split(root, "val")  # the other split is untouched


@pytest.mark.parametrize("extra", [1, 2, 15])
def test_velodyne_size_is_checked_without_reading(tmp_path, extra):
    path = tmp_path / "000001.bin"
    path.write_bytes(np.ones((5, 4), np.float32).tobytes() + b"\x01" * extra)
    with pytest.raises(KittiFormatError, match=rf"000001.bin: {80 + extra} bytes is not a multiple of 16"):
        check_points_file(path)
    path.write_bytes(np.ones((5, 4), np.float32).tobytes())
    assert check_points_file(path) == 5 and read_points(path).shape == (5, 4)


@pytest.mark.parametrize(("content", "message"), [
    ("000000\n000001\n000000\n", r"train.txt:3: frame id '000000' is listed again \(first on line 1\)"),
    ("000000\n._000001\n", r"train.txt:2: frame id must be digits"),
    ("\n\n", r"train.txt: the split list is empty"),
    (APPLE_DOUBLE, r"train.txt: not a text file"),
])
def test_split_lists_are_checked(tmp_path, content, message):
    root = generate(tmp_path, train_frames=2, val_frames=1)
    (root / "ImageSets" / "train.txt").write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(KittiFormatError, match=message):
        read_split(root, "train")


def test_hidden_files_beside_the_data_are_never_read(tmp_path):
    # Copies made on a Mac carry a binary ._<name> beside every file; frames come from ImageSets only.
    root = generate(tmp_path, train_frames=2, val_frames=1)
    for folder in ("velodyne", "label_2", "calib", "image_2"):
        for name in ("._000000.txt", "._000000.bin", "._000000.png", ".DS_Store"):
            _bad_frame_file(root, folder, name, APPLE_DOUBLE)
    (root / "ImageSets" / "._train.txt").write_bytes(APPLE_DOUBLE)
    validate_split(root, "train")
    assert read_split(root, "train") == ["000000", "000001"]


def test_validate_split_reports_every_bad_frame_in_one_line(tmp_path):
    root = generate(tmp_path, train_frames=1, val_frames=5)
    _bad_frame_file(root, "label_2", "000002.txt", "Car 0 0\n")
    _bad_frame_file(root, "velodyne", "000004.bin", b"\x00" * 17)
    (root / "training" / "calib" / "000005.txt").unlink()
    with pytest.raises(KittiFormatError) as caught:
        validate_split(root, "val")
    message = str(caught.value)
    assert message.startswith(f"split 'val' under {root}: 3 malformed file(s) in 5 frames: ") and "\n" not in message
    for part in ("label_2/000002.txt:1: expected 15", "velodyne/000004.bin: 17 bytes", "calib/000005.txt: file not found"):
        assert part in message, part
