import numpy as np
import pytest
import torch

from ftlab.features import concat_features, extract_features, fit_score, linear_head, linear_svm, naive_bayes
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


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("scaled", [False, True])
def test_linear_head_computes_the_classifiers_decisions(n_classes, scaled):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(3, 5, (120, 6)) * np.arange(1, 7)        # features on very different scales
    y = rng.integers(0, n_classes, 120)
    clf = LogisticRegression(max_iter=2000)
    clf = make_pipeline(StandardScaler(), clf).fit(x, y) if scaled else clf.fit(x, y)
    layer = linear_head(clf)
    with torch.no_grad():
        logits = layer(torch.tensor(x, dtype=torch.float32)).double().numpy()
    assert layer.out_features == n_classes
    decision = clf.decision_function(x)
    if n_classes == 2:
        np.testing.assert_allclose(logits[:, 1] - logits[:, 0], decision, atol=1e-4)
    else:
        np.testing.assert_allclose(logits, decision, atol=1e-4)
    assert (logits.argmax(1) == clf.predict(x)).all()


def test_linear_head_refuses_what_it_cannot_fold():
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    with pytest.raises(ValueError, match="fit it first"):
        linear_head(LogisticRegression())
    x, y = np.random.default_rng(0).normal(size=(20, 4)), np.arange(20) % 2
    with pytest.raises(ValueError, match="StandardScaler"):
        linear_head(make_pipeline(PCA(2), LogisticRegression()).fit(x, y))
