import numpy as np
import pytest
import torch
from torch import nn

from ftlab.tuning import lr_range_test, smooth, suggest_lr


@pytest.fixture
def task():
    torch.manual_seed(0)
    x = torch.randn(256, 10)
    y = (x[:, 0] + x[:, 1] > 0).long()
    dl = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 256, 32)] * 20
    return nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 2)), dl


def test_lrs_grow_geometrically_and_model_is_restored(task):
    model, dl = task
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lrs, losses = lr_range_test(model, dl, start=1e-4, end=1e-1, steps=50, diverge=1e9)
    assert len(lrs) == len(losses) == 50
    assert lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(1e-1)
    assert np.allclose(lrs[1:] / lrs[:-1], lrs[1] / lrs[0])
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_stops_when_the_loss_blows_up(task):
    model, dl = task
    lrs, losses = lr_range_test(model, dl, start=1e-3, end=1e4, steps=150)
    assert len(losses) < 150
    assert not np.isfinite(losses[-1]) or losses[-1] > 4 * losses[:-1].min()


def test_suggestion_lies_in_the_falling_part(task):
    model, dl = task
    lrs, losses = lr_range_test(model, dl, start=1e-5, end=10.0, steps=120)
    steep, tenth = suggest_lr(lrs, losses), suggest_lr(lrs, losses, "min/10")
    best = lrs[np.argmin(smooth(losses))]
    assert lrs[0] <= steep <= best and tenth == pytest.approx(best / 10)
    with pytest.raises(ValueError):
        suggest_lr(lrs, losses, "valley")


def test_smooth_is_bias_corrected():
    assert np.allclose(smooth(np.full(5, 3.0)), 3.0)
