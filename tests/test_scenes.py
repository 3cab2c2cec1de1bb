"""Segmentation scenes: seeded, nested, mask and image consistent under overlaps, disjoint splits."""
import numpy as np
import pytest
import torch

from ftlab import scenes


def test_compose_scenes_mask_matches_image_under_overlaps():
    # two full 6x6 items of distinct brightness on a 6x6 canvas: every scene overlaps them completely
    items = np.stack([np.full((6, 6), 100, np.uint8), np.full((6, 6), 200, np.uint8)])
    images, masks = scenes.compose_scenes(items, np.array([0, 1]), n=20, canvas=6, n_items=(1, 3), seed=0)
    expected = np.where(images == 100, 1, np.where(images == 200, 2, 0))  # label + 1 of the item on top
    assert np.array_equal(masks, expected) and (masks > 0).all()


def test_compose_scenes_silhouette_and_background():
    rng = np.random.default_rng(0)
    items = rng.integers(0, 256, (5, 4, 4)).astype(np.uint8)
    images, masks = scenes.compose_scenes(items, np.arange(5) % 3, n=10, canvas=9, threshold=25, seed=1)
    assert images.shape == masks.shape == (10, 9, 9) and masks.dtype == np.int64
    assert ((masks > 0) == (images > 25)).all()   # item pixels are exactly the bright ones
    assert (images[masks == 0] == 0).all()       # the background stays black
    assert set(np.unique(masks)) <= {0, 1, 2, 3}


def test_compose_scenes_is_seeded():
    items = np.random.default_rng(0).integers(0, 256, (5, 4, 4)).astype(np.uint8)
    a = scenes.compose_scenes(items, np.zeros(5, int), n=4, canvas=8, seed=3)
    b = scenes.compose_scenes(items, np.zeros(5, int), n=4, canvas=8, seed=3)
    c = scenes.compose_scenes(items, np.zeros(5, int), n=4, canvas=8, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and not np.array_equal(a[0], c[0])


def test_compose_scenes_rejects_bad_arguments():
    items = np.zeros((2, 8, 8), np.uint8)
    with pytest.raises(ValueError, match="smaller than the items"):
        scenes.compose_scenes(items, np.zeros(2, int), n=1, canvas=4)
    with pytest.raises(ValueError, match="n_items"):
        scenes.compose_scenes(items, np.zeros(2, int), n=1, canvas=8, n_items=(3, 2))


def test_scene_task_shapes_classes_and_nesting():
    small, large = scenes.scene_task(3, "train", canvas=40, seed=1), scenes.scene_task(6, "train", canvas=40, seed=1)
    assert small.images.shape == (3, 1, 40, 40) and small.masks.shape == (3, 40, 40)
    assert small.images.dtype == torch.float32 and 0 <= small.images.min() and small.images.max() <= 1
    assert small.classes == ("background", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    assert torch.equal(small.images, large.images[:3]) and torch.equal(small.masks, large.masks[:3])
    assert int(small.masks.max()) <= 5 and len(small.subset([0, 2])) == 2
    x, y = next(iter(small.step_loader(2, batch_size=4)))
    assert x.shape == (4, 1, 40, 40) and y.shape == (4, 40, 40) and y.dtype == torch.long


def test_valid_items_are_disjoint_from_train_items():
    tr, _ = scenes._target_items("train", "train", valid_frac=0.2)
    va, _ = scenes._target_items("train", "valid", valid_frac=0.2)
    assert len(tr) == 24_000 and len(va) == 6_000
    seen = {img.tobytes() for img in tr}
    assert sum(img.tobytes() in seen for img in va) < 10  # Fashion-MNIST has a few duplicate images


def test_scene_task_splits_differ_and_bad_split_raises():
    a, b = scenes.scene_task(2, "valid", canvas=40), scenes.scene_task(2, "test", canvas=40)
    assert not torch.equal(a.images, b.images)
    with pytest.raises(ValueError, match="split must be"):
        scenes.scene_task(2, "dev")
