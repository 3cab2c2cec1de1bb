"""Plots a lesson would rather show than say: curves, LRs, confusion matrices, image grids, masks."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np


def _axes(ax=None, figsize=(6, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_history(histories: Mapping[str, object], key: str = "loss", smooth: int = 10, ax=None):
    """Training loss per step (a running mean over ``smooth`` steps) of several runs, one line each."""
    ax = _axes(ax)
    for name, h in histories.items():
        y = np.asarray(h.loss)
        x = np.arange(1, len(y) + 1)
        if smooth > 1 and len(y) > smooth:
            y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
            x = x[smooth - 1:]  # each mean is drawn at the last step it covers: the axis stays in steps
        ax.plot(x, y, label=name)
    ax.set(xlabel="step", ylabel="training loss" + (f" (mean of {smooth} steps)" if smooth > 1 else ""),
           title="Learning curves")
    ax.legend()
    return ax


def plot_lrs(history, group_names: Sequence[str] | None = None, ax=None):
    """The learning rate of each parameter group over training, one line per group *name*.

    Groups are matched by the names ``ftlab.freeze.param_groups`` gives them (``"group i"`` by default),
    so a multi-stage history (the head alone first, then every group) lines up without padding; a
    stage without a group leaves a gap. ``group_names[i]`` labels ``"group i"`` in the legend.
    """
    ax = _axes(ax)
    if not history.lrs:
        raise ValueError("history.lrs is empty: plot after fit() has run at least one step.")
    names = getattr(history, "group_names", None) or [[f"group {i}" for i in range(len(r))] for r in history.lrs]
    order = list(dict.fromkeys(n for row in names for n in row))
    if all(n.startswith("group ") and n[6:].isdigit() for n in order):
        order.sort(key=lambda n: int(n[6:]))
    lrs = np.full((len(history.lrs), len(order)), np.nan)  # (steps, groups); NaN where a stage lacked a group
    for step, (row, row_names) in enumerate(zip(history.lrs, names)):
        for value, name in zip(row, row_names):
            lrs[step, order.index(name)] = value
    labels = {f"group {i}": n for i, n in enumerate(group_names)} if group_names is not None else {}
    for i, name in enumerate(order):
        ax.plot(np.arange(1, len(lrs) + 1), lrs[:, i], label=labels.get(name, name))
    ax.set(xlabel="step", ylabel="learning rate", yscale="log", title="Learning rate per group")
    ax.legend()
    return ax


def plot_curves(x: Sequence, ys: Mapping[str, Sequence], xlabel: str, ylabel: str,
                title: str = "", logx: bool = False, spread: Mapping[str, Sequence] | None = None, ax=None):
    """One line per method, e.g. accuracy vs labels per class; ``spread`` draws +-1 std bands."""
    ax = _axes(ax)
    for name, y in ys.items():
        line, = ax.plot(x, y, marker="o", label=name)
        if spread and name in spread:
            lo, hi = np.asarray(y) - np.asarray(spread[name]), np.asarray(y) + np.asarray(spread[name])
            ax.fill_between(x, lo, hi, alpha=0.2, color=line.get_color())
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if logx:
        ax.set_xscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_confusion(y_true, y_pred, classes: Sequence[str], ax=None, normalize: bool = True):
    """Confusion matrix: rows are true classes, columns predictions."""
    from sklearn.metrics import confusion_matrix

    cm = confusion_matrix(y_true, y_pred, labels=range(len(classes)), normalize="true" if normalize else None)
    ax = _axes(ax, figsize=(5, 4.5))
    im = ax.imshow(cm, cmap="Blues", vmin=0)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{cm[i, j]:.2f}" if normalize else int(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black", fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix")
    plt.colorbar(im, ax=ax, fraction=0.046)
    return ax


def show_images(images, titles: Sequence[str] | None = None, ncols: int = 8, size: float = 1.4, cmap="gray"):
    """A grid of images (N, C, H, W) or (N, H, W) with optional titles."""
    images = np.asarray(images)
    if images.ndim == 4:
        images = images.transpose(0, 2, 3, 1)
        images = images[..., 0] if images.shape[-1] == 1 else images
    n = len(images)
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap)
            if titles is not None:
                ax.set_title(titles[i], fontsize=7)
    fig.tight_layout()
    return fig


def plot_embedding_2d(points: Mapping[str, np.ndarray], labels, classes: Sequence[str]):
    """Side-by-side 2-D scatter plots (e.g. PCA of pixels vs of features), coloured by class."""
    fig, axes = plt.subplots(1, len(points), figsize=(5 * len(points), 4.2), squeeze=False)
    labels = np.asarray(labels)
    for ax, (title, xy) in zip(axes.flat, points.items()):
        for c, name in enumerate(classes):
            m = labels == c
            ax.scatter(xy[m, 0], xy[m, 1], s=6, alpha=0.6, label=name)
        ax.set(title=title, xticks=[], yticks=[])
    axes.flat[0].legend(markerscale=3, fontsize=8)
    fig.tight_layout()
    return fig


def show_masks(images, masks, preds=None, ncols: int = 4, cmap="tab10"):
    """Images with their per-pixel class masks (and predicted masks) below them."""
    rows = [("image", images), ("mask", masks)] + ([("predicted", preds)] if preds is not None else [])
    fig, axes = plt.subplots(len(rows), ncols, figsize=(ncols * 2, len(rows) * 2), squeeze=False)
    for r, (name, arr) in enumerate(rows):
        for c in range(ncols):
            a = np.asarray(arr[c]).squeeze()
            axes[r, c].imshow(a, cmap="gray" if name == "image" else cmap,
                              vmin=None if name == "image" else 0, vmax=None if name == "image" else 10)
            axes[r, c].axis("off")
        axes[r, 0].set_title(name, fontsize=8, loc="left")
    fig.tight_layout()
    return fig
