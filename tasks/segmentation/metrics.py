"""mIoU, mAcc and aAcc over the 19 classes (255 ignored), as mmsegmentation computes them."""

from __future__ import annotations

import torch


def confusion(pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int) -> torch.Tensor:
    """``(num_classes, num_classes)`` counts, rows = ground truth, columns = prediction."""
    valid = target != ignore_index
    index = target[valid].long() * num_classes + pred[valid].long()
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)


def seg_metrics(matrix: torch.Tensor) -> dict[str, float]:
    """Percentages from a confusion matrix; classes absent from both prediction and truth are skipped.

    Example:
        >>> seg_metrics(torch.tensor([[3, 1], [0, 4]]))
        {'mIoU': 77.5, 'mAcc': 87.5, 'aAcc': 87.5}
    """
    m = matrix.double()
    intersect = m.diag()
    gt = m.sum(1)
    union = gt + m.sum(0) - intersect
    iou = intersect / union  # NaN where a class is in neither (mmseg's nanmean skips it)
    acc = intersect / gt
    return {
        "mIoU": 100.0 * float(torch.nanmean(iou)),
        "mAcc": 100.0 * float(torch.nanmean(acc)),
        "aAcc": 100.0 * float(intersect.sum() / m.sum().clamp(min=1)),
    }
