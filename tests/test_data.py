import numpy as np
import pytest
import torch

from ftlab.data import (ImageSet, few_shot, place_on_canvas, source_task, step_loader, target_task,
                        train_valid_split)


def test_few_shot_is_balanced_and_deterministic():
    labels = np.repeat(np.arange(5), 50)
    a, b = few_shot(labels, 7, seed=3), few_shot(labels, 7, seed=3)
    assert np.array_equal(a, b)
    assert np.bincount(labels[a]).tolist() == [7] * 5
    assert not np.array_equal(a, few_shot(labels, 7, seed=4))


def test_few_shot_refuses_k_larger_than_a_class():
    labels = np.array([0] * 10 + [1] * 3)
    with pytest.raises(ValueError, match="class 1, which has 3"):
        few_shot(labels, 5)
    with pytest.raises(ValueError, match="at least 1"):
        few_shot(labels, 0)


def test_canvas_placement_keeps_the_item_and_is_seeded():
    items = np.random.default_rng(0).integers(1, 255, (6, 28, 28), dtype=np.uint8)
    c1, c2 = place_on_canvas(items, 40, seed=1), place_on_canvas(items, 40, seed=1)
    assert c1.shape == (6, 40, 40) and np.array_equal(c1, c2)
    assert (c1.reshape(6, -1).sum(1) == items.reshape(6, -1).astype(np.int64).sum(1)).all()
    assert not np.array_equal(c1, place_on_canvas(items, 40, seed=2))
    with pytest.raises(ValueError, match="smaller"):
        place_on_canvas(items, 20)


def test_source_and_target_tasks_are_disjoint_real_fashion_mnist():
    src, tgt = source_task("test", limit=500), target_task("test", limit=500)
    assert src.classes[0] == "T-shirt/top" and tgt.classes[0] == "Sandal"
    assert src.images.shape == (500, 1, 40, 40) and 0 <= src.images.min() and src.images.max() <= 1
    assert set(src.labels.tolist()) == set(range(5)) == set(tgt.labels.tolist())
    centred = target_task("test", canvas=None, limit=10)
    assert centred.images.shape == (10, 1, 28, 28)


def test_train_valid_split_partitions():
    tr, va = train_valid_split(100, 0.2, seed=0)
    assert len(tr) == 80 and len(va) == 20 and not set(tr) & set(va)


def test_step_loader_gives_exactly_the_step_budget_and_is_seeded():
    ds = ImageSet(torch.rand(7, 1, 4, 4), torch.arange(7) % 2, ("a", "b"))
    batches = list(ds.step_loader(steps=5, batch_size=3, seed=1))
    assert len(batches) == 5 and all(x.shape == (3, 1, 4, 4) for x, _ in batches)  # 15 draws from 7 images
    again = list(ds.step_loader(steps=5, batch_size=3, seed=1))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again))
    other = list(ds.step_loader(steps=5, batch_size=3, seed=2))
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(batches, other))
    with pytest.raises(ValueError, match="steps and batch_size"):
        ds.step_loader(steps=0, batch_size=3)


def test_step_loader_of_several_tensors_keeps_rows_together():
    x, t, y = torch.arange(10.0)[:, None], torch.arange(10.0)[:, None] * 2, torch.arange(10)
    for xb, tb, yb in step_loader(x, t, y, steps=4, batch_size=5, seed=0):
        assert torch.equal(tb, 2 * xb) and torch.equal(yb, xb[:, 0].long())
    with pytest.raises(ValueError, match="same number of rows"):
        step_loader(x, y[:5], steps=1, batch_size=2)
