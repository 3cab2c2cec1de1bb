"""Segmentation scenes: several Fashion-MNIST items on a larger canvas, with a per-pixel class mask.

The pocket profile's stand-in for Pascal VOC / Oxford-IIIT Pet trimaps in the segmentation lesson
(Long, Shelhamer & Darrell 2015, *Fully convolutional networks for semantic segmentation*): each
scene is a black canvas (48x48 by default) on which 2-3 (by default) target-class items (sandal, shirt,
sneaker, bag, ankle boot) are drawn at seeded random positions. An item's pixels brighter than ``threshold`` are its
silhouette; a later item covers an earlier one there (overlaps are resolved by drawing order, in
the image and in the mask alike). Mask values: 0 = background, 1..5 = the target classes.
Items come from :func:`ftlab.data.load_fashion_mnist`; the same seed gives the same scenes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from ftlab.data import FASHION_CLASSES, TARGET_CLASSES, load_fashion_mnist, step_loader, train_valid_split

SCENE_CANVAS = 48
BACKGROUND = "background"


@dataclass
class SceneSet:
    """Scenes (N, 1, H, W) as floats in [0, 1], masks (N, H, W) of class indices, class names."""

    images: torch.Tensor
    masks: torch.Tensor
    classes: tuple[str, ...]  # classes[0] is the background

    def __len__(self) -> int:
        return len(self.masks)

    def subset(self, idx) -> "SceneSet":
        """The scenes at positions ``idx``."""
        idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return SceneSet(self.images[idx], self.masks[idx], self.classes)

    def step_loader(self, steps: int, batch_size: int, seed: int = 0) -> DataLoader:
        """Exactly ``steps`` batches of ``(image, mask)``, reshuffled on every pass (seeded)."""
        return step_loader(self.images, self.masks, steps=steps, batch_size=batch_size, seed=seed)

    def loader(self, batch_size: int = 64) -> DataLoader:
        """Batches of ``(image, mask)`` in order, e.g. for evaluation."""
        return DataLoader(torch.utils.data.TensorDataset(self.images, self.masks), batch_size=batch_size)


def compose_scenes(items: np.ndarray, labels: np.ndarray, n: int, canvas: int = SCENE_CANVAS,
                   n_items: tuple[int, int] = (2, 3), threshold: int = 25,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` scenes (n, canvas, canvas) uint8 and masks (n, canvas, canvas) int64 from items (M, h, w).

    Args:
        labels: each item's class, 0..C-1; the mask stores ``label + 1`` (0 is the background).
        n_items: the number of items per scene is drawn uniformly from this inclusive range.
        threshold: pixels above it (0-255) belong to the item; darker ones show what is below.
    """
    m, h, w = items.shape
    if canvas < max(h, w):
        raise ValueError(f"canvas {canvas} is smaller than the items ({h}x{w}).")
    if m == 0 or n_items[0] < 1 or n_items[0] > n_items[1]:
        raise ValueError(f"need items and 1 <= n_items[0] <= n_items[1], got {m} items and {n_items}.")
    rng = np.random.default_rng(seed)
    images = np.zeros((n, canvas, canvas), dtype=np.uint8)
    masks = np.zeros((n, canvas, canvas), dtype=np.int64)
    for i in range(n):
        for j in rng.choice(m, size=rng.integers(n_items[0], n_items[1] + 1)):
            y, x = rng.integers(0, canvas - h + 1), rng.integers(0, canvas - w + 1)
            on = items[j] > threshold  # the item's silhouette
            images[i, y:y + h, x:x + w][on] = items[j][on]
            masks[i, y:y + h, x:x + w][on] = labels[j] + 1
    return images, masks


def _target_items(split: str, part: str, valid_frac: float) -> tuple[np.ndarray, np.ndarray]:
    """Target-class items (relabelled 0..4) of ``split``; for 'train', its train or valid part."""
    images, labels = load_fashion_mnist(split)
    keep = np.flatnonzero(np.isin(labels, TARGET_CLASSES))
    if split == "train":  # items of validation scenes never appear in training scenes
        tr, va = train_valid_split(len(keep), valid_frac, seed=0)
        keep = keep[{"train": tr, "valid": va}[part]]
    remap = np.zeros(10, dtype=np.int64)
    remap[list(TARGET_CLASSES)] = np.arange(len(TARGET_CLASSES))
    return images[keep], remap[labels[keep]]


def scene_task(n: int, split: str = "train", canvas: int = SCENE_CANVAS, n_items: tuple[int, int] = (2, 3),
               seed: int = 0, valid_frac: float = 0.2) -> SceneSet:
    """``n`` scenes of target-class items: ``split`` 'train', 'valid' (disjoint items of the train split) or 'test'.

    The first ``m`` scenes of a seed are the same for every ``n >= m``, so smaller labelled sets are
    nested in larger ones. Each split draws with its own seed offset.
    """
    source = {"train": ("train", "train"), "valid": ("train", "valid"), "test": ("test", "")}
    if split not in source:
        raise ValueError(f"split must be 'train', 'valid' or 'test', not {split!r}.")
    items, labels = _target_items(*source[split], valid_frac=valid_frac)
    offset = {"train": 0, "valid": 20_000, "test": 10_000}[split]
    images, masks = compose_scenes(items, labels, n, canvas, n_items, seed=seed + offset)
    classes = (BACKGROUND, *(FASHION_CLASSES[c] for c in TARGET_CLASSES))
    return SceneSet(torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1),
                    torch.from_numpy(masks), classes)
