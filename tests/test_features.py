import numpy as np
import pytest
import torch

from ftlab.features import concat_features, extract_features, fit_score, linear_svm, naive_bayes
from ftlab.models import PocketCNN


def test_extract_features_shape_and_no_grad():
    model = PocketCNN()
    feats = extract_features(model, torch.rand(10, 1, 40, 40), batch_size=4, progress=False)
    assert feats.shape == (10, 128) and feats.dtype == np.float32
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="empty"):
        extract_features(model, torch.rand(0, 1, 40, 40), progress=False)


def test_classifiers_separate_separable_data():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (40, 5)), rng.normal(4, 1, (40, 5))])
    y = np.repeat([0, 1], 40)
    assert fit_score(linear_svm(), x, y, x, y) > 0.95
    assert fit_score(naive_bayes(), x, y, x, y) > 0.95
    with pytest.raises(ValueError, match="same backbone"):
        fit_score(linear_svm(), x, y, x[:, :3], y)


def test_concat_features_balances_blocks_row_by_row():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 100, (4, 2)), rng.normal(0, 1, (4, 3))
    joined = concat_features(a, b)
    assert joined.shape == (4, 5)
    assert np.allclose(np.linalg.norm(joined[:, :2], axis=1), 1) and np.allclose(np.linalg.norm(joined[:, 2:], axis=1), 1)
    assert np.allclose(concat_features(a[:1], b[:1]), joined[:1])  # a row does not depend on the others
    with pytest.raises(ValueError, match="same examples"):
        concat_features(a, b[:2])
