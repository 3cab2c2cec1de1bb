"""The vision target task per profile: Fashion-MNIST 5-9 (pocket) and Oxford-IIIT Pet (full)."""
import time

import numpy as np
import pytest
import torch
from PIL import Image

from ftlab import data
from ftlab.assets import AssetMissing

# A tiny fake Oxford-IIIT Pet in torchvision's layout: image id, class id (1-based), species, breed id.
_PETS = [("Abyssinian_1", 1, 1, 1), ("Abyssinian_2", 1, 1, 1), ("beagle_1", 2, 2, 1),
         ("beagle_2", 2, 2, 1), ("beagle_3", 2, 2, 1)]


@pytest.fixture
def fake_pets(monkeypatch, tmp_path):
    base = tmp_path / "torchvision" / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True)
    (base / "annotations").mkdir()
    rng = np.random.default_rng(0)
    for name, *_ in _PETS:  # non-square photos, as the real ones are
        Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(base / "images" / f"{name}.jpg")
    lines = "".join(f"{n} {c} {s} {b}\n" for n, c, s, b in _PETS)
    for split in ("trainval", "test"):
        (base / "annotations" / f"{split}.txt").write_text(lines)
    monkeypatch.setattr(data, "resolve", lambda name, prof=None: base)
    return base


def test_vision_target_task_is_target_task_in_pocket(monkeypatch):
    monkeypatch.setenv("FTLAB_PROFILE", "pocket")
    a, b = data.vision_target_task("test", limit=50), data.target_task("test", limit=50)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert a.classes == ("Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def test_full_profile_offline_raises_asset_missing_quickly(monkeypatch, tmp_path):
    monkeypatch.setenv("FTLAB_PROFILE", "full")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path))  # an empty cache: nothing downloaded
    t0 = time.perf_counter()
    with pytest.raises(AssetMissing, match="oxford_pets") as err:
        data.vision_target_task("test", limit=10)
    assert time.perf_counter() - t0 < 5
    assert "FTLAB_PROFILE=full" in str(err.value)  # says what to do


def test_pets_task_rgb_in_unit_range_with_weights_transforms(monkeypatch, fake_pets):
    monkeypatch.setenv("FTLAB_PROFILE", "full")
    ds = data.vision_target_task("train", size=16)
    assert ds.images.shape == (5, 3, 16, 16) and ds.images.dtype == torch.float32
    assert 0.0 <= ds.images.min() and ds.images.max() <= 1.0
    assert ds.labels.tolist() == [0, 0, 1, 1, 1]
    assert ds.classes == ("Abyssinian", "Beagle")


def test_pets_task_limit_is_seeded_and_split_checked(fake_pets):
    a, b = data.pets_task("test", size=8, limit=3, seed=1), data.pets_task("test", size=8, limit=3, seed=1)
    assert len(a) == 3 and torch.equal(a.images, b.images)
    with pytest.raises(ValueError, match="train"):
        data.pets_task("valid")


def test_pets_root_accepts_cache_folder_or_download_root(tmp_path):
    assert data._pets_root(tmp_path / "oxford-iiit-pet") == tmp_path
    assert data._pets_root(tmp_path / "torchvision") == tmp_path / "torchvision"
