"""Feature extraction: a frozen backbone turns images into vectors; scikit-learn does the rest.

This is transfer learning at its simplest (Razavian et al. 2014, "CNN features off-the-shelf"):
no gradient reaches the backbone, so a linear classifier on its features needs few labels.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from torch import nn
from tqdm.auto import tqdm

from ftlab.train import model_device


@torch.no_grad()
def extract_features(model: nn.Module | Callable, images: torch.Tensor, batch_size: int = 256,
                     progress: bool = True, desc: str = "features") -> np.ndarray:
    """(N, D) float32 features of ``images`` from ``model.forward_features`` (eval mode, no grad).

    Each batch goes to the model's device; the features come back to the CPU for scikit-learn.
    """
    if len(images) == 0:
        raise ValueError("no images to extract features from: the subset is empty.")
    fn = model.forward_features if hasattr(model, "forward_features") else model
    device = torch.device("cpu")
    if isinstance(model, nn.Module):
        model.eval()
        device = model_device(model)
    chunks = range(0, len(images), batch_size)
    out = [fn(images[i:i + batch_size].to(device)).float().cpu()
           for i in tqdm(chunks, desc=desc, disable=not progress, leave=False)]
    return torch.cat(out).numpy()


def linear_svm(C: float = 1.0, seed: int = 0):
    """Standardise, then a linear SVM: the classic classifier on off-the-shelf features."""
    return make_pipeline(StandardScaler(), LinearSVC(C=C, max_iter=5000, random_state=seed))


def naive_bayes():
    """Gaussian naive Bayes: one Gaussian per class and feature, features assumed independent."""
    return GaussianNB()


def fit_score(clf, x_train: np.ndarray, y_train, x_test: np.ndarray, y_test) -> float:
    """Fit a scikit-learn classifier and return its test accuracy."""
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"train features have {x_train.shape[1]} dimensions but test features "
                         f"{x_test.shape[1]}: extract both with the same backbone.")
    return float(clf.fit(x_train, np.asarray(y_train)).score(x_test, np.asarray(y_test)))


def concat_features(*blocks: np.ndarray) -> np.ndarray:
    """Join feature blocks side by side, each row of each block scaled to unit length.

    Per-row scaling needs no statistics from a training set, so train and test rows are
    treated alike, and a block with more (or larger) numbers cannot drown out the other.
    """
    if len({len(b) for b in blocks}) != 1:
        raise ValueError("feature blocks must describe the same examples (same number of rows).")
    return np.concatenate([b / (np.linalg.norm(b, axis=1, keepdims=True) + 1e-8) for b in blocks], axis=1)


def linear_head(clf) -> nn.Linear:
    """A fitted linear scikit-learn classifier as an ``nn.Linear`` that computes its decision values.

    ``clf`` is a ``LogisticRegression`` / ``LinearSVC`` (anything with ``coef_`` and ``intercept_``),
    or a pipeline of a ``StandardScaler`` and one of those; the scaler is folded into the weights:
    W (x - mean) / scale + b = (W / scale) x + (b - W mean / scale). The layer's argmax is the
    classifier's prediction, so it can replace a network's head (e.g. a frozen BERT's ``classifier``).
    For two classes scikit-learn keeps one decision value; the layer returns (0, value).
    """
    steps = [step for _, step in clf.steps] if hasattr(clf, "steps") else [clf]
    *scalers, model = steps
    if not hasattr(model, "coef_"):
        raise ValueError(f"{type(model).__name__} is not a fitted linear classifier (no coef_): fit it first, "
                         "or use LogisticRegression / LinearSVC.")
    if any(not isinstance(s, StandardScaler) for s in scalers):
        raise ValueError("only a StandardScaler may come before the classifier: other steps cannot be folded "
                         "into one linear layer.")
    w = np.asarray(model.coef_, dtype=np.float64)          # (C or 1, D)
    b = np.asarray(model.intercept_, dtype=np.float64).reshape(-1)
    for scaler in reversed(scalers):                       # fold x -> (x - mean) / scale, innermost last
        scale = scaler.scale_ if scaler.scale_ is not None else np.ones(w.shape[1])
        mean = scaler.mean_ if scaler.mean_ is not None else np.zeros(w.shape[1])
        b = b - w @ (mean / scale)
        w = w / scale
    if w.shape[0] == 1:                                    # binary: logits (0, z) have the same argmax
        w, b = np.concatenate([np.zeros_like(w), w]), np.concatenate([[0.0], b])
    layer = nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w))
        layer.bias.copy_(torch.from_numpy(b))
    return layer
