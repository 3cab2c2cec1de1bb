"""Semantic-segmentation metrics from the confusion matrix: pixel accuracy, per-class IoU, mean IoU.

The definitions of the Pascal VOC challenge (Everingham et al. 2010) and of Long et al. (2015):
with ``cm[i, j]`` the number of pixels of true class ``i`` predicted as ``j``,
pixel accuracy = trace / total, and IoU_c = cm[c, c] / (row_c + column_c - cm[c, c]), i.e.
true positives / (true positives + false positives + false negatives). Mean IoU averages IoU over
the classes that occur in the target or the prediction (the background counts as a class).
Pixels whose target is ``ignore_index`` (VOC marks object borders with 255) are left out of both.
"""
from __future__ import annotations

import torch


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int | None = None) -> torch.Tensor:
    """Counts (num_classes, num_classes) of pixels: rows true class, columns predicted class."""
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape: "
                         "take logits.argmax(1) to turn (N, C, H, W) scores into (N, H, W) class indices.")
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    keep = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    pred, target = pred[keep], target[keep]
    if len(target) and (target.min() < 0 or target.max() >= num_classes or pred.min() < 0 or pred.max() >= num_classes):
        raise ValueError(f"class indices must lie in 0..{num_classes - 1} (or be ignore_index).")
    return torch.bincount(target * num_classes + pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def pixel_accuracy(cm: torch.Tensor) -> float:
    """Fraction of (non-ignored) pixels whose class is right."""
    return cm.diag().sum().item() / max(cm.sum().item(), 1)


def iou_per_class(cm: torch.Tensor) -> torch.Tensor:
    """IoU of every class; NaN for a class absent from both target and prediction."""
    cm = cm.double()
    inter = cm.diag()
    union = cm.sum(0) + cm.sum(1) - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.full_like(inter, float("nan")))


def mean_iou(cm: torch.Tensor) -> float:
    """Mean of the per-class IoUs over the classes that occur."""
    return torch.nanmean(iou_per_class(cm)).item()
