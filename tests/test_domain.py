import copy

import numpy as np
import pytest
import torch
from torch import nn

from ftlab.domain import (adapt_bn, coral_loss, dann_lambda, domain_classifier, fit_adapt, grad_reverse,
                          pseudo_label, shift_domain)


class TinyNet(nn.Module):
    """A 2-conv CNN with BatchNorm and the forward_features / head API of the pocket CNN."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(4, 3)

    def forward_features(self, x):
        return self.body(x).flatten(1)

    def forward(self, x):
        return self.head(self.forward_features(x))


@pytest.fixture
def net():
    torch.manual_seed(0)
    return TinyNet()


def test_grad_reverse_is_identity_forward_and_minus_lambda_backward():
    x = torch.randn(6, 5, requires_grad=True)
    w = torch.randn(6, 5)
    y = grad_reverse(x, 0.3)
    assert torch.equal(y, x)
    (y * w).sum().backward()
    assert torch.allclose(x.grad, -0.3 * w)


def test_coral_of_identical_batches_is_zero_and_pinned_value():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(32, 4, generator=g)
    assert coral_loss(a, a).item() == pytest.approx(0.0, abs=1e-7)
    assert coral_loss(a, a + 3.0).item() == pytest.approx(0.0, abs=1e-6)  # a mean shift alone costs nothing
    b = 2 * torch.randn(32, 4, generator=g)
    ref = ((np.cov(a.numpy().T) - np.cov(b.numpy().T)) ** 2).sum() / (4 * 16)
    assert coral_loss(a, b).item() == pytest.approx(ref, rel=1e-4)


def test_adabn_changes_only_bn_running_stats(net):
    x = torch.rand(40, 1, 8, 8) * 3 + 1
    before = copy.deepcopy(net.state_dict())
    adapt_bn(net, x, batch_size=20)  # equal batches: the average of batch means is the mean
    after = net.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"body.1.running_mean", "body.1.running_var", "body.1.num_batches_tracked"}
    conv = net.body[0](x)  # running mean equals the mean of the target activations
    assert torch.allclose(after["body.1.running_mean"], conv.mean((0, 2, 3)), atol=1e-4)
    assert net.body[1].momentum == 0.1 and not net.training


def test_shift_domain_is_seeded_and_in_range():
    x = torch.rand(5, 1, 40, 40)
    a, b, c = shift_domain(x, seed=1), shift_domain(x, seed=1), shift_domain(x, seed=2)
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(shift_domain(x, alpha=0.0), x)


def test_dann_lambda_warms_up_from_zero_to_one():
    assert dann_lambda(0.0) == 0.0
    assert 0.99 < dann_lambda(1.0) < 1.0
    assert dann_lambda(0.2) < dann_lambda(0.5)


def test_pseudo_label_keeps_only_confident(net):
    x = torch.rand(30, 1, 8, 8)
    keep_all, labels = pseudo_label(net, x, threshold=0.0)
    assert len(keep_all) == 30 and torch.equal(labels, net(x).argmax(-1))
    keep_none, _ = pseudo_label(net, x, threshold=1.01)
    assert len(keep_none) == 0


def test_fit_adapt_trains_with_an_alignment_loss(net):
    torch.manual_seed(0)
    xs, ys = torch.rand(64, 1, 8, 8), torch.randint(0, 3, (64,))
    dl = [(xs[i:i + 16], ys[i:i + 16]) for i in range(0, 64, 16)] * 5
    disc = domain_classifier(4, hidden=8)
    seen = []
    losses = fit_adapt(net, dl, torch.rand(50, 1, 8, 8) + 0.5,
                       lambda fs, ft, p: coral_loss(fs, ft),
                       lr=1e-2, extra=disc, callback=seen.append)
    assert len(losses) == 20 and seen == list(range(20))
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
