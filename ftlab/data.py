"""Image datasets of the vision lessons: Fashion-MNIST source / target tasks on a canvas.

The source task is Fashion-MNIST classes 0-4 (what the pocket CNN was pretrained on), the
target task classes 5-9. Each 28x28 item is placed at a random (seeded) position on a larger
canvas: centred items are nearly linearly separable in pixel space, which would hide the
point of transfer; placed items are not, as objects in photos are not centred. The full profile's vision target
task is Oxford-IIIT Pet (``pets_task``); ``vision_target_task`` picks by profile.
``step_loader`` turns any tensors into a fixed budget of seeded batches (text lessons use it too).
Text datasets live in :mod:`ftlab.wordnet` (tasks) and :mod:`ftlab.corpus` (general text).
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from ftlab.assets import profile, resolve

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)
CANVAS = 40
_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


@dataclass
class ImageSet:
    """Images as float tensors in [0, 1] of shape (N, 1, H, W), labels 0..C-1, class names."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx) -> "ImageSet":
        """The examples at positions ``idx``."""
        idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return ImageSet(self.images[idx], self.labels[idx], self.classes)

    def loader(self, batch_size: int = 128, shuffle: bool = False, seed: int = 0) -> DataLoader:
        """A DataLoader of ``(x, y)`` batches (seeded shuffling)."""
        gen = torch.Generator().manual_seed(seed)
        return DataLoader(TensorDataset(self.images, self.labels), batch_size=batch_size,
                          shuffle=shuffle, generator=gen)

    def step_loader(self, steps: int, batch_size: int, seed: int = 0) -> DataLoader:
        """Exactly ``steps`` batches of ``batch_size``, reshuffling on every pass (seeded).

        One pass over this loader is a whole training budget, so ``fit(model, dl, epochs=1)``
        runs ``steps`` optimizer steps however few examples there are: with 25 images an
        ordinary epoch would be a single step.
        """
        return step_loader(self.images, self.labels, steps=steps, batch_size=batch_size, seed=seed)

    def flat(self) -> np.ndarray:
        """Pixels as an (N, H*W) NumPy array, e.g. for a classifier on raw pixels."""
        return self.images.reshape(len(self), -1).numpy()


def step_loader(*tensors: torch.Tensor, steps: int, batch_size: int, seed: int = 0) -> DataLoader:
    """Exactly ``steps`` batches of rows of ``tensors`` (e.g. inputs, targets), reshuffled on every pass.

    ``fit(model, step_loader(x, y, steps=100, batch_size=64), epochs=1)`` runs 100 optimizer
    steps, however many rows there are. Seeded: the same seed gives the same batches.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be at least 1, got {steps} and {batch_size}.")
    if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
        raise ValueError(f"step_loader needs tensors with the same number of rows, got {[len(t) for t in tensors]}.")
    data = TensorDataset(*tensors)
    sampler = RandomSampler(data, num_samples=steps * batch_size, generator=torch.Generator().manual_seed(seed))
    return DataLoader(data, batch_size=batch_size, sampler=sampler)


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"{stem}(.gz) is missing from {folder}; reinstall dataset-fashion-mnist.")


@lru_cache(maxsize=2)
def load_fashion_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Raw Fashion-MNIST: uint8 images (N, 28, 28) and labels (N,) of ``split`` ('train'/'test')."""
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}.")
    folder = Path(resolve("fashion_mnist"))
    images, labels = (_read_idx(_find(folder, stem)) for stem in _FILES[split])
    return images, labels.astype(np.int64)


def place_on_canvas(images: np.ndarray, size: int = CANVAS, seed: int = 0) -> np.ndarray:
    """Put each (28, 28) item at a seeded random position on a (size, size) black canvas."""
    n, h, w = images.shape
    if size < max(h, w):
        raise ValueError(f"canvas size {size} is smaller than the items ({h}x{w}).")
    rng = np.random.default_rng(seed)
    ys, xs = rng.integers(0, size - h + 1, n), rng.integers(0, size - w + 1, n)
    canvas = np.zeros((n, size, size), dtype=images.dtype)
    for i in range(n):
        canvas[i, ys[i]:ys[i] + h, xs[i]:xs[i] + w] = images[i]
    return canvas


def fashion_task(classes: tuple[int, ...], split: str = "train", canvas: int | None = CANVAS,
                 seed: int = 0, limit: int | None = None) -> ImageSet:
    """Fashion-MNIST restricted to ``classes`` (relabelled 0..C-1), items placed on a canvas.

    ``canvas=None`` keeps the centred 28x28 originals. ``limit`` keeps the first ``limit``
    examples (after a seeded shuffle), e.g. a smaller test set for a quick lesson.
    """
    images, labels = load_fashion_mnist(split)
    keep = np.flatnonzero(np.isin(labels, classes))
    if limit is not None:
        keep = np.sort(np.random.default_rng(seed).permutation(keep)[:limit])
    x = images[keep]
    if canvas:  # a different seed per split so train and test placements differ
        x = place_on_canvas(x, canvas, seed=seed + (0 if split == "train" else 10_000))
    remap = {c: i for i, c in enumerate(classes)}
    y = np.array([remap[c] for c in labels[keep]], dtype=np.int64)
    return ImageSet(torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1), torch.from_numpy(y),
                    tuple(FASHION_CLASSES[c] for c in classes))


def source_task(split: str = "train", **kw) -> ImageSet:
    """The source task: classes 0-4 (T-shirt, Trouser, Pullover, Dress, Coat)."""
    return fashion_task(SOURCE_CLASSES, split, **kw)


def target_task(split: str = "train", **kw) -> ImageSet:
    """The target task: classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot)."""
    return fashion_task(TARGET_CLASSES, split, **kw)


def few_shot(labels, k: int, seed: int = 0) -> np.ndarray:
    """Indices of a balanced subset with ``k`` examples per class, deterministic from ``seed``."""
    labels = np.asarray(labels)
    if k < 1:
        raise ValueError(f"k must be at least 1 example per class, got {k}.")
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(labels):
        pool = np.flatnonzero(labels == c)
        if k > len(pool):
            raise ValueError(f"k={k} is larger than class {c}, which has {len(pool)} examples; "
                             f"use k <= {len(pool)} or a larger split.")
        out.append(rng.choice(pool, size=k, replace=False))
    return np.sort(np.concatenate(out))


def train_valid_split(n: int, valid_frac: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(n)`` into train and validation indices."""
    perm = np.random.default_rng(seed).permutation(n)
    cut = int(round(n * (1 - valid_frac)))
    return np.sort(perm[:cut]), np.sort(perm[cut:])


def _pets_root(path: Path) -> Path:
    """torchvision's root for OxfordIIITPet: the folder *above* ``oxford-iiit-pet``."""
    path = Path(path)
    return path.parent if path.name == "oxford-iiit-pet" else path


def pets_task(split: str = "train", size: int = 224, limit: int | None = None, seed: int = 0) -> ImageSet:
    """Oxford-IIIT Pet (37 breeds, full profile) as RGB images (N, 3, size, size) in [0, 1].

    Images get the transforms that come with torchvision's ResNet-18 ImageNet weights
    (resize the short side to 256/224 * size, centre-crop ``size``); normalisation is left to
    ``model.preprocess``. ``split`` 'train' is the official trainval split. ``limit`` keeps that
    many images after a seeded shuffle (all of trainval is ~2.2 GB as floats).
    """
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}.")
    root = _pets_root(resolve("oxford_pets", "full"))  # AssetMissing (with what to do) if absent offline
    from torchvision.datasets import OxfordIIITPet  # after resolve: a missing asset fails without this import
    from torchvision.transforms import v2

    ds = OxfordIIITPet(str(root), split="trainval" if split == "train" else "test")
    keep = np.arange(len(ds))
    if limit is not None:
        keep = np.sort(np.random.default_rng(seed).permutation(keep)[:limit])
    tf = v2.Compose([v2.PILToTensor(), v2.Resize(round(size * 256 / 224), antialias=True),
                     v2.CenterCrop(size), v2.ToDtype(torch.float32, scale=True)])
    images = torch.empty(len(keep), 3, size, size)  # (N, 3, size, size), filled one image at a time
    labels = torch.empty(len(keep), dtype=torch.long)
    for row, i in enumerate(keep):
        img, labels[row] = ds[int(i)]
        images[row] = tf(img)
    return ImageSet(images, labels, tuple(ds.classes))


def vision_target_task(split: str = "train", **kw) -> ImageSet:
    """The vision lessons' target task for the active profile: Fashion-MNIST 5-9 (pocket) or Oxford-IIIT Pet (full)."""
    return pets_task(split, **kw) if profile() == "full" else target_task(split, **kw)
