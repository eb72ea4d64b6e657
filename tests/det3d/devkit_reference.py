"""A slow, line-by-line transcription of the KITTI devkit's evaluation (per frame, per detection),
with overlaps from shapely polygons: the independent reference for ``tasks.det3d.kitti_eval``.

Transcribed from the logic of the devkit's Python port (OpenPCDet
``pcdet/datasets/kitti/kitti_object_eval_python/eval.py``: ``clean_data``,
``compute_statistics_jit``, ``eval_class``, ``get_official_eval_result``), including its
overlap table ``min_overlaps[pass, metric, class]`` and the orientation similarity (AOS).
"""

from __future__ import annotations

import numpy as np
import shapely

MIN_HEIGHT, MAX_OCC, MAX_TRUNC = (40, 25, 25), (0, 1, 2), (0.15, 0.3, 0.5)
CLASS_INDEX = {"car": 0, "pedestrian": 1, "cyclist": 2}
METRIC_INDEX = {"2d": 0, "bev": 1, "3d": 2}
# min_overlaps[pass, metric (bbox, bev, 3d), class (car, pedestrian, cyclist)], as get_official_eval_result builds it.
MIN_OVERLAPS = np.array([
    [[0.7, 0.5, 0.5], [0.7, 0.5, 0.5], [0.7, 0.5, 0.5]],
    [[0.7, 0.5, 0.5], [0.5, 0.25, 0.25], [0.5, 0.25, 0.25]],
])


def _poly(b):
    x, z, l, w, ry = b[0], b[2], b[3], b[5], b[6]
    c, s = np.cos(ry), np.sin(ry)
    pts = [(x + c * dx + s * dz, z - s * dx + c * dz) for dx, dz in ((l / 2, w / 2), (l / 2, -w / 2), (-l / 2, -w / 2), (-l / 2, w / 2))]
    return shapely.Polygon(pts)


def _overlap(view, d_box, d_bbox, g_box, g_bbox):
    if view == "2d":
        iw = min(d_bbox[2], g_bbox[2]) - max(d_bbox[0], g_bbox[0])
        ih = min(d_bbox[3], g_bbox[3]) - max(d_bbox[1], g_bbox[1])
        if iw <= 0 or ih <= 0:
            return 0.0
        inter = iw * ih
        return inter / ((d_bbox[2] - d_bbox[0]) * (d_bbox[3] - d_bbox[1]) + (g_bbox[2] - g_bbox[0]) * (g_bbox[3] - g_bbox[1]) - inter)
    inter = _poly(d_box).intersection(_poly(g_box)).area
    if view == "bev":
        return inter / (d_box[3] * d_box[5] + g_box[3] * g_box[5] - inter)
    ih = max(0.0, min(d_box[1], g_box[1]) - max(d_box[1] - d_box[4], g_box[1] - g_box[4]))
    inter *= ih
    return inter / (np.prod(d_box[3:6]) + np.prod(g_box[3:6]) - inter)


def _clean(gt, det, cls, level):
    ign_gt, ign_det, dc, n_gt = [], [], [], 0
    for i in range(len(gt)):
        name = gt.names[i].lower()
        height = gt.bbox[i, 3] - gt.bbox[i, 1]
        valid = 1 if name == cls else 0 if (cls, name) in (("pedestrian", "person_sitting"), ("car", "van")) else -1
        ignore = gt.occluded[i] > MAX_OCC[level] or gt.truncated[i] > MAX_TRUNC[level] or height <= MIN_HEIGHT[level]
        if valid == 1 and not ignore:
            ign_gt.append(0)
            n_gt += 1
        elif valid == 0 or (ignore and valid == 1):
            ign_gt.append(1)
        else:
            ign_gt.append(-1)
        if name == "dontcare":
            dc.append(gt.bbox[i])
    for i in range(len(det)):
        height = abs(det.bbox[i, 3] - det.bbox[i, 1])
        ign_det.append(1 if height < MIN_HEIGHT[level] else 0 if det.names[i].lower() == cls else -1)
    return ign_gt, ign_det, dc, n_gt


def _stats(gt, det, ign_gt, ign_det, dc, view, min_ov, compute_fp, thresh=0.0):
    assigned = [False] * len(det)
    low = [compute_fp and det.score[j] < thresh for j in range(len(det))]
    tp = fp = fn = 0
    scores, deltas = [], []
    for i in range(len(gt)):
        if ign_gt[i] == -1:
            continue
        det_idx, valid, max_ov, assigned_ignored = -1, -1e7, 0.0, False
        for j in range(len(det)):
            if ign_det[j] == -1 or assigned[j] or low[j]:
                continue
            ov = _overlap(view, det.boxes[j], det.bbox[j], gt.boxes[i], gt.bbox[i])
            if not compute_fp and ov > min_ov and det.score[j] > valid:
                det_idx, valid = j, det.score[j]
            elif compute_fp and ov > min_ov and (ov > max_ov or assigned_ignored) and ign_det[j] == 0:
                max_ov, det_idx, valid, assigned_ignored = ov, j, 1, False
            elif compute_fp and ov > min_ov and valid == -1e7 and ign_det[j] == 1:
                det_idx, valid, assigned_ignored = j, 1, True
        if valid == -1e7 and ign_gt[i] == 0:
            fn += 1
        elif valid != -1e7 and (ign_gt[i] == 1 or ign_det[det_idx] == 1):
            assigned[det_idx] = True
        elif valid != -1e7:
            tp += 1
            scores.append(det.score[det_idx])
            deltas.append(gt.alpha[i] - det.alpha[det_idx])
            assigned[det_idx] = True
    similarity = -1.0
    if compute_fp:
        for j in range(len(det)):
            if not (assigned[j] or ign_det[j] == -1 or ign_det[j] == 1 or low[j]):
                fp += 1
        if view == "2d":  # the devkit tests DontCare regions in the bbox metric only, at that metric's threshold
            for box in dc:
                for j in range(len(det)):
                    if assigned[j] or ign_det[j] in (-1, 1) or low[j]:
                        continue
                    iw = min(det.bbox[j, 2], box[2]) - max(det.bbox[j, 0], box[0])
                    ih = min(det.bbox[j, 3], box[3]) - max(det.bbox[j, 1], box[1])
                    area = (det.bbox[j, 2] - det.bbox[j, 0]) * (det.bbox[j, 3] - det.bbox[j, 1])
                    if iw > 0 and ih > 0 and iw * ih / area > min_ov:
                        assigned[j] = True
                        fp -= 1
        if tp > 0 or fp > 0:
            similarity = sum((1.0 + np.cos(d)) / 2.0 for d in deltas)
    return tp, fp, fn, scores, similarity


def computes_aos(dets) -> bool:
    """The devkit's switch: the first frame with detections has a first alpha other than -10."""
    for d in dets:
        if len(d):
            return d.alpha[0] != -10
    return False


def reference_ap(gts, dets, cls_name, view, level, overlap_pass=0):
    """(AP R40, AP R11, AOS R40, AOS R11) for one class / view / level / overlap pass, the devkit's way.

    AOS is computed for the image view (``"2d"``) only, as the devkit does; else NaN.
    """
    cls = cls_name.lower()
    min_ov = MIN_OVERLAPS[overlap_pass, METRIC_INDEX[view], CLASS_INDEX[cls]]
    cleaned = [_clean(g, d, cls, level) for g, d in zip(gts, dets)]
    n_gt = sum(c[3] for c in cleaned)
    if n_gt == 0:
        return (float("nan"),) * 4
    scores = []
    for (g, d), (ig, idt, dc, _) in zip(zip(gts, dets), cleaned):
        scores += _stats(g, d, ig, idt, dc, view, min_ov, False)[3]
    scores = sorted(scores, reverse=True)
    thresholds, current = [], 0.0
    for i, s in enumerate(scores):
        l_rec = (i + 1) / n_gt
        r_rec = (i + 2) / n_gt if i < len(scores) - 1 else l_rec
        if (r_rec - current) < (current - l_rec) and i < len(scores) - 1:
            continue
        thresholds.append(s)
        current += 1 / 40
    precision, aos = np.zeros(41), np.zeros(41)
    for t, thr in enumerate(thresholds[:41]):
        tp = fp = similarity = 0
        for (g, d), (ig, idt, dc, _) in zip(zip(gts, dets), cleaned):
            a, b, _, _, sim = _stats(g, d, ig, idt, dc, view, min_ov, True, thr)
            tp, fp = tp + a, fp + b
            if sim != -1:
                similarity += sim
        precision[t] = tp / (tp + fp)
        aos[t] = similarity / (tp + fp)
    for i in range(41):
        precision[i] = precision[i:].max()
        aos[i] = aos[i:].max()
    with_aos = view == "2d" and computes_aos(dets)
    aos40 = aos[1:].sum() / 40 * 100 if with_aos else float("nan")
    aos11 = aos[::4].sum() / 11 * 100 if with_aos else float("nan")
    return precision[1:].sum() / 40 * 100, precision[::4].sum() / 11 * 100, aos40, aos11
