"""HMDB51: frame counts are the DECODABLE frames, counted once into a manifest; split-file scans skip hidden files."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from torch.utils.data import DataLoader

from bench.errors import BenchError
from tasks.data import hmdb51
from tasks.data.files import DataLayoutError
from tasks.data.hmdb51 import Clip, UnreadableVideo, load_hmdb51, make_hmdb51_manifests, manifest_path, probe_frames
from tasks.data.manifest import Manifest, ManifestError
from tasks.manifest import main as manifest_main
from tasks.toydata.hmdb51 import write_avi
from tasks.video.data import ClipConfig, VideoAugmentConfig, VideoClips

SPLITS = "testTrainMulti_7030_splits"
APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02\x00\x00\x00\x09\x00\x00\x00\x32\xff\xfe"
AUGMENT = VideoAugmentConfig(resize_shorter=32, crop_size=32, scale=(0.5, 1.0), hflip=0.0)


def _frames(count: int) -> np.ndarray:
    return np.random.default_rng(count).integers(0, 255, size=(count, 32, 32, 3), dtype=np.uint8)


def _lying_avi(path: Path, encoded: int, declared: int) -> None:
    """An AVI with ``encoded`` frames whose headers (avih dwTotalFrames, strh dwLength) declare ``declared``."""
    write_avi(path, _frames(encoded))
    data = bytearray(path.read_bytes())
    avih, strh = data.find(b"avih"), data.find(b"strh")
    assert struct.unpack_from("<I", data, avih + 8 + 16) == (encoded,)  # the fields this patches
    struct.pack_into("<I", data, avih + 8 + 16, declared)
    struct.pack_into("<I", data, strh + 8 + 32, declared)
    path.write_bytes(bytes(data))


def _dataset(root: Path, clips: dict[str, int]) -> Path:
    """One class ``wave`` with the given clips (name -> frames; all listed for training)."""
    for name, frames in clips.items():
        write_avi(root / "wave" / name, _frames(frames))
    (root / SPLITS).mkdir(parents=True)
    (root / SPLITS / "wave_test_split1.txt").write_text("".join(f"{n} 1 \n" for n in clips))
    return root


def test_a_header_that_claims_more_frames_than_decode(tmp_path):
    root = _dataset(tmp_path / "hmdb", {"ok.avi": 66})
    _lying_avi(root / "wave" / "liar.avi", encoded=65, declared=66)
    (root / SPLITS / "wave_test_split1.txt").write_text("ok.avi 1 \nliar.avi 1 \n")
    assert probe_frames(root / "wave" / "liar.avi") == (65, 66)  # the header does lie
    report = make_hmdb51_manifests(root, hash_files=False)
    (manifest,) = report.manifests
    assert {Path(e.path).name: e.frames for e in manifest.entries} == {"ok.avi": 66, "liar.avi": 65}
    assert report.header_mismatches == {"wave/liar.avi": (65, 66)}
    manifest.write(manifest_path(root, "toy", 1))
    # The 66-frame filter (a window of 9 frames 8 apart spans 65) keeps only the clip that decodes 66.
    split = load_hmdb51(root, "toy", 1, min_frames=66)
    assert [Path(c.path).name for c in split.train] == ["ok.avi"] and split.dropped == {"train": 1, "test": 0}
    # Taken at its word (65), the liar's windows stay within what decodes, for every seed.
    split = load_hmdb51(root, "toy", 1, min_frames=65)
    liar = next(c for c in split.train if c.path.endswith("liar.avi"))
    clips = VideoClips(root, (liar,), ClipConfig(num_frames=9, interval=8), AUGMENT)
    for seed in range(4):
        assert clips[(0, seed)][0].shape == (3, 9, 32, 32)
    # Taken at its header's word (66), a window that starts at frame 1 needs frame 65, which never decodes.
    trusting_the_header = VideoClips(root, (Clip(liar.path, 0, 66),), ClipConfig(num_frames=9, interval=8), AUGMENT)
    seed = next(s for s in range(50) if _start(s) == 1)
    with pytest.raises(UnreadableVideo, match="liar.avi' decodes 8 of the 9 frames needed .*records 66 decodable"):
        trusting_the_header[(0, seed)]


def _start(seed: int) -> int:
    import torch

    return int(float(torch.rand(1, generator=torch.Generator().manual_seed(seed))) * 2)


def test_a_truncated_clip_is_counted_by_what_decodes_and_reported(tmp_path, capsys):
    root = _dataset(tmp_path / "hmdb", {"a.avi": 40, "b.avi": 40})
    data = (root / "wave" / "b.avi").read_bytes()
    (root / "wave" / "b.avi").write_bytes(data[: len(data) * 3 // 4])  # an interrupted copy
    assert manifest_main(["hmdb51", "--root", str(root), "--out", str(tmp_path / "m"), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    manifest = Manifest.read(tmp_path / "m" / "hmdb51-split1.tsv")
    frames = {Path(e.path).name: e.frames for e in manifest.entries}
    assert frames["a.avi"] == 40 and 0 < frames["b.avi"] < 40
    assert f"wave/b.avi (header 40, decodes {frames['b.avi']})" in out
    verify = ["verify", str(tmp_path / "m" / "hmdb51-split1.tsv"), "--root", str(root), "--mode", "sha256"]
    assert manifest_main(verify) == 0


def test_apple_double_split_files_are_ignored(toy_root, tmp_path):
    copy = tmp_path / "hmdb"
    shutil.copytree(toy_root / "hmdb51", copy, ignore=shutil.ignore_patterns("manifests", ".toy-*"))
    expected = make_hmdb51_manifests(copy, hash_files=False).manifests[0]
    # A Mac copy's metadata file (binary), and a hidden one that happens to be valid text naming a class.
    (copy / SPLITS / "._move_up_test_split1.txt").write_bytes(APPLE_DOUBLE)
    (copy / SPLITS / "._a_new_class_test_split1.txt").write_text("move_up_clip00.avi 1\n")
    (copy / "move_up" / "._move_up_clip00.avi").write_bytes(APPLE_DOUBLE)
    got = make_hmdb51_manifests(copy, hash_files=False).manifests[0]
    assert got.classes == expected.classes == ("move_down", "move_left", "move_right", "move_up")
    assert got.content_sha256 == expected.content_sha256  # same clips, same labels


@pytest.mark.parametrize(
    "content, message",
    [
        pytest.param(APPLE_DOUBLE, r"_split1.txt' is not UTF-8 text \(byte 0xff at offset 34\); is it a binary file\?",
                     id="binary"),
        pytest.param(b"move_up_clip00.avi\x00 1\n", "holds NUL bytes", id="nul"),
        pytest.param(b"move_up_clip00.avi 3\n", r"line 1 is 'move_up_clip00.avi 3'; expected '<name>.avi <0\|1\|2>'",
                     id="bad-id"),
        pytest.param(b"move_up_clip00.avi 1\nmove_up_clip00.avi 1\n", "lists move_up_clip00.avi twice", id="twice"),
    ],
)
def test_a_bad_split_file_is_one_line_naming_it(toy_root, tmp_path, content, message):
    copy = tmp_path / "hmdb"
    shutil.copytree(toy_root / "hmdb51", copy, ignore=shutil.ignore_patterns("manifests"))
    (copy / SPLITS / "move_up_test_split1.txt").write_bytes(content)
    with pytest.raises(DataLayoutError, match=message) as caught:
        make_hmdb51_manifests(copy, hash_files=False)
    assert "\n" not in str(caught.value)


def test_a_missing_manifest_names_the_command_that_creates_it(tmp_path, monkeypatch):
    monkeypatch.setattr(hmdb51, "MANIFEST_DIR", tmp_path / "data_manifests")
    with pytest.raises(ManifestError, match=r"`python -m tasks.manifest hmdb51 --root /data/hmdb51 --split 2 "
                                            r"--videos-dir videos`"):
        load_hmdb51("/data/hmdb51", "real", 2, 64, videos_dir="videos")
    assert manifest_path("/toy", "toy", 1) == Path("/toy/manifests/hmdb51-split1.tsv")


def test_a_clip_shorter_than_the_window_is_refused_before_training(tmp_path):
    message = r"1 clip\(s\) have fewer decodable frames than the 57 .* data.min_frames >= 57"
    with pytest.raises(BenchError, match=message):
        VideoClips(tmp_path, (Clip("wave/a.avi", 0, 56),), ClipConfig(8, 8), AUGMENT)


def test_a_clip_damaged_after_its_manifest_fails_in_a_loader_worker_with_one_line(tmp_path):
    root = _dataset(tmp_path / "hmdb", {"a.avi": 16})
    data = (root / "wave" / "a.avi").read_bytes()
    (root / "wave" / "a.avi").write_bytes(data[: len(data) // 4])
    clips = VideoClips(root, (Clip("wave/a.avi", 0, 16),), ClipConfig(4, 2), AUGMENT)  # as the manifest recorded it
    batches = iter(DataLoader(clips, num_workers=1))
    try:
        next(batches)
    except UnreadableVideo as err:
        error = err
        error.__traceback__ = None  # let the iterator (and its worker) go now
    del batches
    assert error.worker == "in DataLoader worker process 0"
    assert str(error).startswith(f"video {str(root / 'wave' / 'a.avi')!r} decodes ")
    assert "the manifest records 16 decodable frames: the file changed since" in str(error)
    assert "\n" not in str(error)


def test_a_video_job_without_its_manifest_stops_with_the_command(toy_root, tmp_path, monkeypatch):
    from bench.training import parse_train
    from tasks import TASKS
    from tests.tasks.conftest import TINY, compose_train

    monkeypatch.setattr(hmdb51, "MANIFEST_DIR", tmp_path / "data_manifests")  # as in a fresh checkout
    root = toy_root / "hmdb51"
    cfg = compose_train(["task=video", f"code={TINY}", "store=unused", f"data.roots.hmdb51={root}"])
    with pytest.raises(ManifestError, match=rf"manifests/hmdb51-split1.tsv' does not exist; create it from your copy "
                                            rf"with `python -m tasks.manifest hmdb51 --root {root}`"):
        parse_train(cfg, TASKS)  # the dataset is identified (by its manifest) before anything trains


def test_workers_below_one_are_refused_not_clamped(toy_root, tmp_path, capsys):
    # The tool used to run max(1, --workers) silently; the library refuses it too.
    with pytest.raises(SystemExit) as exited:
        manifest_main(["hmdb51", "--root", str(toy_root / "hmdb51"), "--out", str(tmp_path / "m"), "--workers", "0"])
    assert exited.value.code == 2 and "argument --workers: 0 is invalid; valid is an integer >= 1" in capsys.readouterr().err
    with pytest.raises(BenchError, match=r"^workers \(--workers\)=-1 is invalid; valid is an integer >= 1$"):
        make_hmdb51_manifests(toy_root / "hmdb51", workers=-1)
    assert not (tmp_path / "m").exists()
