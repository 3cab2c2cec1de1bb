"""A learner's own data: an image folder and a text table, in the shapes the rest of ftlab takes.

``image_folder`` reads one sub-folder per class with ``torchvision.datasets.ImageFolder`` (any format
Pillow reads, converted to RGB) and returns :class:`ftlab.data.ImageSet` splits of float images in [0, 1]
at one size (resize the short side, centre-crop, as torchvision's ImageNet weights' transforms do);
normalisation is left to each backbone's own ``preprocess``. ``text_table`` reads a CSV / TSV file with
``pandas`` and returns :class:`ftlab.wordnet.TextSplit` splits, each of which also gives a
``datasets.Dataset``. Both make a stratified train / valid / test split (seeded) when the data has none.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ftlab.data import ImageSet
from ftlab.wordnet import TextSplit

IMAGE_SPLITS = {"train": ("train",), "valid": ("valid", "val", "validation"), "test": ("test",)}


def stratified_split(labels, valid_frac: float = 0.2, test_frac: float = 0.2,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """Indices of a seeded train / valid / test split with every class in the same proportions in each."""
    labels = np.asarray(labels)
    if not (0 <= valid_frac < 1 and 0 <= test_frac < 1 and valid_frac + test_frac < 1):
        raise ValueError(f"valid_frac and test_frac must be in [0, 1) with a sum below 1, got {valid_frac}, {test_frac}.")
    rng = np.random.default_rng(seed)
    out = {"train": [], "valid": [], "test": []}
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(test_frac * len(idx)))
        n_valid = int(round(valid_frac * len(idx)))
        if len(idx) - n_test - n_valid < 1 or (valid_frac and n_valid < 1) or (test_frac and n_test < 1):
            raise ValueError(f"Class {c!r} has only {len(idx)} examples: too few for a train / valid / test split. "
                             "Add examples, or lower valid_frac / test_frac.")
        out["test"] += list(idx[:n_test]); out["valid"] += list(idx[n_test:n_test + n_valid])
        out["train"] += list(idx[n_test + n_valid:])
    return {k: np.sort(np.array(v, dtype=int)) for k, v in out.items()}


def _transform(size: int):
    from torchvision.transforms import v2

    return v2.Compose([v2.PILToTensor(), v2.Resize(round(size * 256 / 224), antialias=True), v2.CenterCrop(size),
                       v2.ToDtype(torch.float32, scale=True)])


def _read_folder(root: Path, size: int, classes: list[str] | None = None) -> ImageSet:
    from torchvision.datasets import ImageFolder

    try:
        ds = ImageFolder(str(root), transform=_transform(size), loader=_rgb)
    except FileNotFoundError as e:  # no class folders, or no image files in them
        raise ValueError(f"{root} has no images in class sub-folders ({e}). Put each class's images in its own "
                         f"folder: {root}/<class name>/<image>.jpg") from None
    if classes is not None and ds.classes != classes:
        raise ValueError(f"{root} has classes {ds.classes}, but the training folder has {classes}: every split "
                         "needs the same class sub-folders.")
    images = torch.empty(len(ds), 3, size, size)  # (N, 3, size, size), one image at a time
    labels = torch.empty(len(ds), dtype=torch.long)
    for i in range(len(ds)):
        images[i], labels[i] = ds[i]
    return ImageSet(images, labels, tuple(ds.classes))


def _rgb(path: str):
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")


def image_folder(path: str | Path, size: int = 160, valid_frac: float = 0.2, test_frac: float = 0.2,
                 seed: int = 0) -> dict[str, ImageSet]:
    """``{"train", "valid", "test"}`` image sets from a folder of class sub-folders.

    ``path/<class>/*.jpg`` (any format Pillow reads): split by ``stratified_split``. If ``path`` already holds
    ``train/`` and ``test/`` (and ``valid/`` or ``val/``) folders, each with the same class sub-folders, they are
    used as they are (a missing valid split is carved from train).
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"No folder {root}: pass the folder that holds one sub-folder per class.")
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}.")
    given = {split: next((root / n for n in names if (root / n).is_dir()), None) for split, names in IMAGE_SPLITS.items()}
    if given["train"] is not None and given["test"] is not None:
        train = _read_folder(given["train"], size)
        test = _read_folder(given["test"], size, list(train.classes))
        if given["valid"] is not None:
            valid = _read_folder(given["valid"], size, list(train.classes))
        else:
            idx = stratified_split(train.labels.numpy(), valid_frac, 0.0, seed)
            train, valid = train.subset(idx["train"]), train.subset(idx["valid"])
        return {"train": train, "valid": valid, "test": test}
    every = _read_folder(root, size)
    if len(every.classes) < 2:
        raise ValueError(f"{root} has {len(every.classes)} class folder(s); a classifier needs at least 2.")
    idx = stratified_split(every.labels.numpy(), valid_frac, test_frac, seed)
    return {split: every.subset(i) for split, i in idx.items()}


@dataclass
class TextTable:
    """A labelled text table split into train / valid / test, with its class names."""

    train: TextSplit
    valid: TextSplit
    test: TextSplit
    classes: list[str]


def text_table(path: str | Path, text: str = "text", label: str = "label", valid_frac: float = 0.2,
               test_frac: float = 0.2, seed: int = 0, sep: str | None = None) -> TextTable:
    """Texts and labels from a CSV / TSV file (``pandas.read_csv``; ``.tsv`` means tab-separated unless ``sep``
    says otherwise), split by ``stratified_split``. Labels may be any strings or numbers; ``classes`` lists them
    sorted, and each split's labels are their positions."""
    import pandas as pd

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"No file {path}: pass a CSV or TSV file with a text column and a label column.")
    sep = sep or ("\t" if path.suffix.lower() in (".tsv", ".tab") else ",")
    df = pd.read_csv(path, sep=sep)
    missing = [c for c in (text, label) if c not in df.columns]
    if missing:
        raise ValueError(f"{path.name} has no column {missing}; its columns are {list(df.columns)}. "
                         f"Pass text=... and label=... with the right names.")
    df = df[[text, label]].dropna()
    df = df[df[text].astype(str).str.strip() != ""]
    if df.empty:
        raise ValueError(f"{path.name} has no rows with both a text and a label.")
    classes = sorted(df[label].astype(str).unique())
    if len(classes) < 2:
        raise ValueError(f"{path.name} has a single label {classes}; a classifier needs at least 2.")
    texts = df[text].astype(str).tolist()
    labels = [classes.index(v) for v in df[label].astype(str)]
    idx = stratified_split(labels, valid_frac, test_frac, seed)
    row_ids = [str(i) for i in df.index]
    splits = {s: TextSplit([texts[i] for i in ix], [labels[i] for i in ix], [row_ids[i] for i in ix])
              for s, ix in idx.items()}
    return TextTable(splits["train"], splits["valid"], splits["test"], classes)
