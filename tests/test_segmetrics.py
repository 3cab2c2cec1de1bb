"""Segmentation metrics: a hand-computed example, ignore_index, parity with scikit-learn."""
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, jaccard_score

from ftlab.segmetrics import confusion_matrix, iou_per_class, mean_iou, pixel_accuracy

# 3x3 target and prediction, classes 0 (background), 1, 2; worked out by hand:
# cm = [[3, 1, 0], [0, 2, 1], [0, 0, 2]]; IoU0 = 3/4, IoU1 = 2/4, IoU2 = 2/3; pixel acc = 7/9
TARGET = torch.tensor([[0, 0, 0], [0, 1, 1], [1, 2, 2]])
PRED = torch.tensor([[0, 0, 0], [1, 1, 2], [1, 2, 2]])


def test_hand_computed_example():
    cm = confusion_matrix(PRED, TARGET, 3)
    assert cm.tolist() == [[3, 1, 0], [0, 2, 1], [0, 0, 2]]
    assert math.isclose(pixel_accuracy(cm), 7 / 9)
    assert torch.allclose(iou_per_class(cm), torch.tensor([3 / 4, 2 / 4, 2 / 3], dtype=torch.double))
    assert math.isclose(mean_iou(cm), (3 / 4 + 2 / 4 + 2 / 3) / 3)


def test_ignore_index_drops_pixels():
    target = TARGET.clone()
    target[1, 2] = 255  # the one pixel of class 1 predicted as 2 becomes unlabelled
    cm = confusion_matrix(PRED, target, 3, ignore_index=255)
    assert cm.sum() == 8 and cm.tolist() == [[3, 1, 0], [0, 2, 0], [0, 0, 2]]
    with pytest.raises(ValueError, match="0..2"):
        confusion_matrix(PRED, target, 3)  # 255 without ignore_index is not a class


def test_absent_class_is_left_out_of_the_mean():
    cm = confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), 4)
    iou = iou_per_class(cm)
    assert torch.isnan(iou[2:]).all() and math.isclose(mean_iou(cm), (1 / 2 + 1 / 2) / 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parity_with_sklearn(seed):
    g = torch.Generator().manual_seed(seed)
    target, pred = torch.randint(0, 5, (2, 8, 8), generator=g), torch.randint(0, 5, (2, 8, 8), generator=g)
    cm = confusion_matrix(pred, target, 5)
    y, p = target.flatten().numpy(), pred.flatten().numpy()
    assert np.allclose(iou_per_class(cm).numpy(), jaccard_score(y, p, average=None, labels=range(5)))
    assert math.isclose(pixel_accuracy(cm), accuracy_score(y, p))


def test_shape_mismatch_says_to_take_argmax():
    with pytest.raises(ValueError, match="argmax"):
        confusion_matrix(torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long), 3)
