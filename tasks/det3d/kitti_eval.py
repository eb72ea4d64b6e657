"""KITTI object detection average precision, written for this project (numpy, CPU).

It follows the official devkit (``evaluate_object.cpp``) and its Python port used by
OpenPCDet and mmdetection3d:

- difficulties (ground truth): easy / moderate / hard = image-box height > 40 / 25 / 25 px,
  occlusion <= 0 / 1 / 2, truncation <= 0.15 / 0.3 / 0.5; a ground truth of the class that
  fails its level is *ignored* (neither a miss nor a hit, but may absorb a detection);
- neighbouring classes: a Van is ignored for Car, a Person_sitting for Pedestrian;
- detections whose image box is lower than the level's minimum height are ignored (of any
  class, as the devkit does: such a detection can absorb a ground truth without counting);
- DontCare regions: an unmatched detection whose image box lies over a DontCare box
  (intersection / detection area > the pass's image-box threshold) is not a false positive.
  DontCare labels carry no 3D extent (-1 sizes, -1000 location), so this only ever applies to
  the image-box view: exactly what the devkit computes for BEV and 3D;
- IoU thresholds per view and class, in two passes (the Python port's ``min_overlaps`` array,
  [2 passes, 3 views, classes], in ``get_official_eval_result``): the main pass uses 0.7 (car)
  and 0.5 (pedestrian, cyclist) everywhere; the second ("loose") pass keeps the image boxes at
  0.7 / 0.5 / 0.5 and loosens only BEV and 3D to 0.5 / 0.25 / 0.25;
- 41 score thresholds chosen on the true-positive scores, interpolated precision, then AP over
  40 recall positions (1/40 ... 1, the official metric since 2019) or 11 (0, 0.1, ... 1);
- AOS (average orientation similarity) on the image-box matching: each true positive adds
  (1 + cos(alpha_gt - alpha_det)) / 2, divided by the detections kept (true + false
  positives) at each score threshold, then interpolated and averaged like precision. As the
  devkit, it is skipped (NaN here) when the detections carry no alpha (the first detection
  reads -10, KITTI's "no value") or there is no detection at all.

The per-ground-truth greedy matching is sequential within a frame; here it runs for all
frames and all 41 thresholds at once (frames padded to the same number of boxes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.errors import BenchError
from tasks.det3d.kitti import Objects
from tasks.det3d.rotated_iou import image_box_overlap, paired_camera_iou

CLASSES = ("Car", "Pedestrian", "Cyclist")
NEIGHBOUR = {"Car": "Van", "Pedestrian": "Person_sitting"}
MIN_OVERLAP = {"Car": 0.7, "Pedestrian": 0.5, "Cyclist": 0.5}
LOOSE_OVERLAP = {"Car": 0.5, "Pedestrian": 0.25, "Cyclist": 0.25}
# (key suffix, threshold per view): the devkit's two rows of min_overlaps; only BEV and 3D are loosened.
PASSES = (
    ("", {"image": MIN_OVERLAP, "bev": MIN_OVERLAP, "3d": MIN_OVERLAP}),
    ("_loose", {"image": MIN_OVERLAP, "bev": LOOSE_OVERLAP, "3d": LOOSE_OVERLAP}),
)
NO_ALPHA = -10.0  # KITTI's value for "alpha not given"
LEVELS = ("easy", "moderate", "hard")
MIN_HEIGHT = (40.0, 25.0, 25.0)
MAX_OCCLUSION = (0, 1, 2)
MAX_TRUNCATION = (0.15, 0.3, 0.5)
VIEWS = ("image", "bev", "3d")
SAMPLE_POINTS = 41
_CELLS_PER_CHUNK = 4_000_000  # thresholds x frames x detections handled per vectorised step


@dataclass(frozen=True)
class _ClassData:
    """One class's boxes over all frames, padded to (frames, max detections / ground truths)."""

    det_index: np.ndarray  # (I, D) index into the flat detection list, -1 = padding
    gt_index: np.ndarray  # (I, G) index into the flat ground-truth list, -1 = padding
    scores: np.ndarray  # (I, D)
    det_height: np.ndarray  # (I, D) image-box height
    det_is_class: np.ndarray  # (I, D) the detection is of the evaluated class
    gt_is_class: np.ndarray  # (I, G) True for the class itself, False for its neighbour class
    gt_ignored_by_level: np.ndarray  # (L, I, G) fails the difficulty level
    dc_overlap: np.ndarray  # (I, D) largest intersection / own image-box area over the frame's DontCare boxes
    gt_alpha: np.ndarray  # (I, G) observation angle (radians)
    det_alpha: np.ndarray  # (I, D)


def evaluate(ground_truth: Sequence[Objects], detections: Sequence[Objects], classes: Sequence[str] = CLASSES,
             views: Sequence[str] = VIEWS, loose: bool = False) -> dict[str, float]:
    """KITTI AP and AOS (percent) for every class, view and level, with 40 and 11 recall positions.

    Keys are ``<class>_<view>_<level>`` (40 recall positions) and the same with ``_r11``,
    e.g. ``car_3d_moderate`` and ``car_3d_moderate_r11``; the image-box view is ``2d`` and,
    with it, AOS is ``<class>_aos_<level>`` (``car_aos_moderate``, ``car_aos_moderate_r11``).
    A class without any counted ground truth at a level gets NaN (AP is undefined there), and
    so does AOS when the detections carry no alpha. With ``loose``, the devkit's second pass
    again, suffixed ``_loose`` (e.g. ``car_bev_moderate_loose``, ``car_bev_moderate_r11_loose``):
    BEV and 3D at IoU 0.5 (car) / 0.25 (pedestrian, cyclist), image boxes (hence AOS) at the
    main thresholds, as in the devkit. ``Objects`` are camera-frame labels (``kitti.Objects``);
    raises :class:`BenchError` for unpaired frame lists, an unknown class or view.

    Example:
        >>> from tasks.det3d.kitti import Objects
        >>> import numpy as np
        >>> gt = Objects(np.array(["Car"]), np.zeros(1), np.zeros(1, int), np.zeros(1),
        ...              np.array([[100.0, 100, 200, 180]]), np.array([[1.0, 1.5, 10, 4, 1.5, 1.6, 0]]), np.ones(1))
        >>> ap = evaluate([gt] * 41, [gt] * 41, classes=["Car"], views=["3d"])
        >>> ap["car_3d_moderate"], ap["car_3d_moderate_r11"]
        (100.0, 100.0)

        As in the official devkit, precision is sampled at score thresholds, so a class with
        very few objects cannot reach 100 even when every detection is perfect:

        >>> ap = evaluate([gt], [gt], classes=["Car"], views=["3d"])
        >>> ap["car_3d_moderate"], round(ap["car_3d_moderate_r11"], 2)
        (0.0, 9.09)
    """
    if len(ground_truth) != len(detections):
        raise BenchError(f"{len(ground_truth)} ground-truth frames but {len(detections)} detection frames; they must pair up")
    for view in views:
        if view not in VIEWS:
            raise BenchError(f"unknown view {view!r}; valid views are {list(VIEWS)}")
    gt_flat = _concat(ground_truth)
    det_flat = _concat(detections)
    with_alpha = _detections_carry_alpha(detections)
    results: dict[str, float] = {}
    for cls in classes:
        if cls not in MIN_OVERLAP:
            raise BenchError(f"unknown class {cls!r}; valid classes are {list(MIN_OVERLAP)}")
        data = _class_data(cls, ground_truth, detections, gt_flat, det_flat)
        for view in views:
            overlaps = _overlaps(view, data, gt_flat, det_flat)
            for suffix, thresholds in PASSES[: 2 if loose else 1]:
                for level_index, level in enumerate(LEVELS):
                    key = f"{cls.lower()}_{'2d' if view == 'image' else view}_{level}"
                    precision, aos = _precision_curves(data, overlaps, level_index, thresholds[view][cls], view == "image")
                    results[key + suffix], results[f"{key}_r11{suffix}"] = _average(precision)
                    if view == "image":
                        aos_key = f"{cls.lower()}_aos_{level}"
                        results[aos_key + suffix], results[f"{aos_key}_r11{suffix}"] = _average(aos if with_alpha else None)
    return results


def _detections_carry_alpha(detections: Sequence[Objects]) -> bool:
    """The devkit's test: the first frame with detections has a first alpha other than -10
    (no detection at all: no AOS either, as in the devkit)."""
    for frame in detections:
        if len(frame):
            return float(frame.alpha[0]) != NO_ALPHA
    return False


def _average(curve: np.ndarray | None) -> tuple[float, float]:
    """(mean over the 40 recall positions 1/40 ... 1, mean over the 11 positions 0, 0.1 ... 1) in percent."""
    if curve is None:
        return float("nan"), float("nan")
    return float(curve[1:].sum() / (SAMPLE_POINTS - 1) * 100.0), float(curve[::4].sum() / 11 * 100.0)


def _concat(frames: Sequence[Objects]) -> dict[str, np.ndarray]:
    keys = ("names", "truncated", "occluded", "alpha", "bbox", "boxes", "score")
    if not frames:
        raise BenchError("no frames to evaluate")
    return {k: np.concatenate([np.asarray(getattr(f, k)) for f in frames]) for k in keys}


def _padded(per_frame: list[np.ndarray], offsets: np.ndarray) -> np.ndarray:
    width = max((len(x) for x in per_frame), default=0)
    out = np.full((len(per_frame), max(width, 1)), -1, dtype=np.int64)
    for i, idx in enumerate(per_frame):
        out[i, : len(idx)] = idx + offsets[i]
    return out


def _take(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[index]`` for a padded (>= 0 clipped) index, also when ``values`` is empty."""
    if len(values) == 0:
        return np.zeros(index.shape + values.shape[1:], dtype=values.dtype)
    return values[index]


def _class_data(cls: str, gts: Sequence[Objects], dets: Sequence[Objects], gt_flat: dict, det_flat: dict) -> _ClassData:
    lower = np.char.lower
    wanted = {cls.lower(), NEIGHBOUR.get(cls, "").lower()} - {""}
    gt_sel = [np.nonzero(np.isin(lower(g.names.astype(str)), list(wanted)))[0] for g in gts]
    # Every detection takes part: the devkit marks ANY detection lower than the level's minimum
    # height as ignored (code 1, which can absorb a ground truth), whatever its class.
    det_sel = [np.arange(len(d)) for d in dets]
    gt_off = np.concatenate([[0], np.cumsum([len(g) for g in gts])[:-1]])
    det_off = np.concatenate([[0], np.cumsum([len(d) for d in dets])[:-1]])
    gt_index, det_index = _padded(gt_sel, gt_off), _padded(det_sel, det_off)
    gt_ok, det_ok = gt_index >= 0, det_index >= 0
    g, d = np.maximum(gt_index, 0), np.maximum(det_index, 0)

    bbox = _take(gt_flat["bbox"], g)
    height = bbox[..., 3] - bbox[..., 1]
    by_level = np.stack([
        (_take(gt_flat["occluded"], g) > MAX_OCCLUSION[k]) | (_take(gt_flat["truncated"], g) > MAX_TRUNCATION[k]) | (height <= MIN_HEIGHT[k])
        for k in range(len(LEVELS))
    ])
    is_class = gt_ok & (lower(_take(gt_flat["names"].astype(str), g)) == cls.lower())

    det_box = _take(det_flat["bbox"], d)
    dc_overlap = np.zeros(det_index.shape)
    for i, frame in enumerate(gts):
        dc = frame.bbox[np.char.lower(frame.names.astype(str)) == "dontcare"]
        n = len(det_sel[i])
        if len(dc) and n:
            dc_overlap[i, :n] = image_box_overlap(det_box[i, :n], dc, over_first=True).max(axis=1)
    return _ClassData(
        det_index=det_index,
        gt_index=gt_index,
        scores=np.where(det_ok, _take(det_flat["score"], d), -np.inf),
        det_is_class=det_ok & (lower(_take(det_flat["names"].astype(str), d)) == cls.lower()),
        det_height=np.where(det_ok, np.abs(det_box[..., 3] - det_box[..., 1]), 0.0),
        gt_is_class=is_class,
        gt_ignored_by_level=by_level,
        dc_overlap=dc_overlap,
        gt_alpha=np.where(gt_ok, _take(gt_flat["alpha"], g), 0.0),
        det_alpha=np.where(det_ok, _take(det_flat["alpha"], d), 0.0),
    )


def _overlaps(view: str, data: _ClassData, gt_flat: dict, det_flat: dict) -> np.ndarray:
    """(I, D, G) overlaps of each frame's detections with its ground truths (0 for padding)."""
    frame, di, gi = np.nonzero((data.det_index >= 0)[:, :, None] & (data.gt_index >= 0)[:, None, :])
    out = np.zeros(data.det_index.shape + data.gt_index.shape[1:])
    if len(frame) == 0:
        return out
    det_ids, gt_ids = data.det_index[frame, di], data.gt_index[frame, gi]
    if view == "image":
        a, b = det_flat["bbox"][det_ids], gt_flat["bbox"][gt_ids]
        iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
        ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
        inter = iw * ih
        union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
        values = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
    else:
        values = paired_camera_iou(det_flat["boxes"][det_ids], gt_flat["boxes"][gt_ids], view)
    out[frame, di, gi] = values
    return out


def _ignore_codes(data: _ClassData, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Devkit codes: ground truth 0 = counted, 1 = ignored, -1 = absent; detections likewise."""
    gt = np.where(data.gt_index < 0, -1, np.where(data.gt_is_class & ~data.gt_ignored_by_level[level], 0, 1))
    det = np.where(data.det_index < 0, -1, np.where(data.det_height < MIN_HEIGHT[level], 1, np.where(data.det_is_class, 0, -1)))
    return gt, det


def _true_positive_scores(overlaps: np.ndarray, scores: np.ndarray, gt_code: np.ndarray, det_code: np.ndarray,
                          min_overlap: float) -> np.ndarray:
    """Scores of the matches the devkit uses to place its recall thresholds (highest-score match per truth)."""
    assigned = np.zeros(scores.shape, dtype=bool)
    found = []
    for g in range(gt_code.shape[1]):
        rows = np.nonzero(gt_code[:, g] != -1)[0]
        if not len(rows):
            continue
        cand = (det_code[rows] != -1) & ~assigned[rows] & (overlaps[rows, :, g] > min_overlap)
        best = np.argmax(np.where(cand, scores[rows], -np.inf), axis=1)
        has = cand.any(axis=1)
        tp = has & (gt_code[rows, g] == 0) & (det_code[rows, best] == 0)
        found.append(scores[rows[tp], best[tp]])
        assigned[rows[has], best[has]] = True
    return np.concatenate(found) if found else np.zeros(0)


def _recall_thresholds(tp_scores: np.ndarray, num_gt: int) -> np.ndarray:
    """The devkit's ``getThresholds``: scores at (about) every 1/40 step of recall."""
    scores = np.sort(tp_scores)[::-1]
    chosen, current = [], 0.0
    for i, score in enumerate(scores):
        left = (i + 1) / num_gt
        right = (i + 2) / num_gt if i < len(scores) - 1 else left
        if (right - current) < (current - left) and i < len(scores) - 1:
            continue
        chosen.append(score)
        current += 1.0 / (SAMPLE_POINTS - 1.0)
    return np.array(chosen[:SAMPLE_POINTS])


def _counts_at_thresholds(overlaps: np.ndarray, scores: np.ndarray, gt_code: np.ndarray, det_code: np.ndarray,
                          dc_hit: np.ndarray, alphas: tuple[np.ndarray, np.ndarray] | None, thresholds: np.ndarray,
                          min_overlap: float) -> np.ndarray:
    """(T, 4) true positives, false positives, misses and summed orientation similarity of the true
    positives (0 without ``alphas``) when keeping detections scoring >= each threshold."""
    t_count = len(thresholds)
    low_score = scores[None] < thresholds[:, None, None]  # (T, I, D)
    assigned = np.zeros(low_score.shape, dtype=bool)
    tp = np.zeros(t_count, dtype=np.int64)
    fn = np.zeros(t_count, dtype=np.int64)
    similarity = np.zeros(t_count)
    for g in range(gt_code.shape[1]):
        rows = np.nonzero(gt_code[:, g] != -1)[0]
        if not len(rows):
            continue
        code_d = det_code[rows]
        ov = overlaps[rows, :, g]
        base = ((code_d != -1) & (ov > min_overlap))[None] & ~assigned[:, rows] & ~low_score[:, rows]
        counted, ignored = base & (code_d == 0)[None], base & (code_d == 1)[None]
        # The devkit prefers the best-overlapping counted detection, else the first ignored one.
        best_counted = np.argmax(np.where(counted, ov[None], -np.inf), axis=2)
        first_ignored = np.argmax(ignored, axis=2)
        has_counted = counted.any(axis=2)
        pick = np.where(has_counted, best_counted, first_ignored)
        has = has_counted | ignored.any(axis=2)
        code_g = gt_code[rows, g][None]
        fn += (~has & (code_g == 0)).sum(axis=1)
        true_positive = has & (code_g == 0) & has_counted  # (T, R)
        tp += true_positive.sum(axis=1)
        if alphas is not None:
            gt_alpha, det_alpha = alphas
            delta = gt_alpha[rows, g][None] - det_alpha[rows[None, :], pick]  # the devkit's gt - det order
            similarity += np.where(true_positive, (1.0 + np.cos(delta)) / 2.0, 0.0).sum(axis=1)
        t_idx, r_idx = np.nonzero(has)
        assigned[t_idx, rows[r_idx], pick[t_idx, r_idx]] = True
    fp = (~assigned & (det_code == 0)[None] & ~low_score & ~dc_hit[None]).sum(axis=(1, 2))
    return np.stack([tp, fp, fn, similarity], axis=1).astype(float)


def _precision_curves(data: _ClassData, overlaps: np.ndarray, level: int, min_overlap: float,
                      image_view: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Interpolated precision and (image view only) AOS at the 41 sampled score thresholds; (None, None)
    when the level has no counted ground truth."""
    gt_code, det_code = _ignore_codes(data, level)
    num_gt = int((gt_code == 0).sum())
    if num_gt == 0:
        return None, None
    tp_scores = _true_positive_scores(overlaps, data.scores, gt_code, det_code, min_overlap)
    thresholds = _recall_thresholds(tp_scores, num_gt)
    counts = np.zeros((len(thresholds), 4))
    # DontCare boxes have no 3D extent: only the image view sees them, at that pass's image threshold.
    dc_hit = data.dc_overlap > min_overlap if image_view else np.zeros(data.dc_overlap.shape, dtype=bool)
    frames = len(gt_code)
    chunk = max(1, _CELLS_PER_CHUNK // max(1, len(thresholds) * overlaps.shape[1]))
    for start in range(0, frames, chunk):
        sl = slice(start, start + chunk)
        alphas = (data.gt_alpha[sl], data.det_alpha[sl]) if image_view else None
        counts += _counts_at_thresholds(overlaps[sl], data.scores[sl], gt_code[sl], det_code[sl], dc_hit[sl], alphas,
                                        thresholds, min_overlap)
    kept = np.maximum(counts[:, 0] + counts[:, 1], 1.0)  # true + false positives
    curves = []
    for numerator in (counts[:, 0], counts[:, 3]):
        curve = np.zeros(SAMPLE_POINTS)
        curve[: len(thresholds)] = numerator / kept
        curves.append(np.maximum.accumulate(curve[::-1])[::-1])  # interpolated: best value at >= recall
    return curves[0], curves[1] if image_view else None
