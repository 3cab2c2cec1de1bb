"""Loaders for a learner's own image folder and text table."""
import numpy as np
import pytest
import torch

from ftlab.own_data import image_folder, stratified_split, text_table


def _write_images(root, classes=("cat", "dog"), n=10, size=(40, 30)):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            mode = "L" if i % 3 == 0 else "RGB"  # grey images are converted to RGB
            arr = rng.integers(0, 255, size=(size[1], size[0], 3) if mode == "RGB" else (size[1], size[0]), dtype=np.uint8)
            Image.fromarray(arr, mode).save(root / c / f"{i}.png")


def test_stratified_split_keeps_class_shares():
    labels = [0] * 50 + [1] * 10
    idx = stratified_split(labels, 0.2, 0.2, seed=0)
    assert sorted(np.concatenate(list(idx.values())).tolist()) == list(range(60))
    assert [int(np.sum(np.array(labels)[idx["test"]] == 1))] == [2]
    with pytest.raises(ValueError, match="too few"):
        stratified_split([0, 0, 1], 0.2, 0.2)


def test_image_folder_splits_and_sizes(tmp_path):
    _write_images(tmp_path)
    sets = image_folder(tmp_path, size=32)
    assert set(sets) == {"train", "valid", "test"} and sets["train"].classes == ("cat", "dog")
    assert sum(len(s) for s in sets.values()) == 20
    x = sets["train"].images
    assert x.shape[1:] == (3, 32, 32) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1


def test_image_folder_uses_given_splits_and_refuses_mismatch(tmp_path):
    _write_images(tmp_path / "train")
    _write_images(tmp_path / "test", n=4)
    sets = image_folder(tmp_path, size=32)
    assert len(sets["test"]) == 8 and len(sets["train"]) + len(sets["valid"]) == 20
    _write_images(tmp_path / "val", classes=("cat", "bird"), n=3)
    with pytest.raises(ValueError, match="same class sub-folders"):
        image_folder(tmp_path, size=32)


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="one sub-folder per class"):
        image_folder(tmp_path / "nope")
    _write_images(tmp_path, classes=("only",))
    with pytest.raises(ValueError, match="at least 2"):
        image_folder(tmp_path)


def test_text_table_csv_and_tsv(tmp_path):
    rows = [(f"text number {i}", "pos" if i % 2 else "neg") for i in range(30)]
    (tmp_path / "t.tsv").write_text("sentence\tsentiment\n" + "\n".join(f"{t}\t{l}" for t, l in rows))
    table = text_table(tmp_path / "t.tsv", text="sentence", label="sentiment")
    assert table.classes == ["neg", "pos"]
    assert sum(len(s) for s in (table.train, table.valid, table.test)) == 30
    ds = table.train.to_dataset(table.classes)
    assert ds.features["label"].names == ["neg", "pos"] and ds[0]["text"].startswith("text number")
    with pytest.raises(ValueError, match="its columns are"):
        text_table(tmp_path / "t.tsv")
