import pytest
import torch

from ftlab.freeze import count_params, freeze, freeze_to, lr_per_group, param_groups, unfreeze
from ftlab.train import fit


def groups_of(cnn):
    return [cnn[0:3], cnn[3:6], cnn[8]]


def test_frozen_weights_unchanged_after_a_step(tiny_cnn):
    groups = groups_of(tiny_cnn)
    freeze_to(groups, 2)
    before = [p.clone() for p in groups[0].parameters()] + [p.clone() for p in groups[1].parameters()]
    head_before = groups[2].weight.clone()
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
    opt = torch.optim.AdamW(param_groups(groups, 1e-2), weight_decay=0.1)
    torch.nn.functional.cross_entropy(tiny_cnn(x), y).backward()
    opt.step()
    after = list(groups[0].parameters()) + list(groups[1].parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    assert not torch.equal(groups[2].weight, head_before)


def test_train_bn_keeps_norm_layers_trainable(tiny_cnn):
    freeze(tiny_cnn, train_bn=True)
    trainable = {n for n, p in tiny_cnn.named_parameters() if p.requires_grad}
    assert trainable == {"1.weight", "1.bias", "4.weight", "4.bias"}
    unfreeze(tiny_cnn)
    assert count_params(tiny_cnn) == count_params(tiny_cnn, trainable_only=False)


def test_freeze_to_negative_leaves_only_last_group(tiny_cnn):
    groups = groups_of(tiny_cnn)
    freeze_to(groups, -1)
    assert count_params(tiny_cnn) == count_params(groups[2])


def test_lr_slice_is_geometric_per_group(tiny_cnn):
    groups = groups_of(tiny_cnn)
    pg = param_groups(groups, slice(1e-4, 1e-2))
    assert [g["lr"] for g in pg] == pytest.approx([1e-4, 1e-3, 1e-2])
    assert lr_per_group(slice(1e-2), 3) == pytest.approx([1e-3, 1e-3, 1e-2])
    assert lr_per_group(3e-4, 2) == [3e-4, 3e-4]


def test_lr_per_group_is_what_the_optimizer_uses(tiny_cnn):
    groups = groups_of(tiny_cnn)
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 3, (32,))
    dl = [(x, y)] * 4
    hist = fit(tiny_cnn, dl, epochs=1, params=param_groups(groups, slice(1e-4, 1e-2)), schedule=None, progress=False)
    assert hist.lrs[0] == pytest.approx([1e-4, 1e-3, 1e-2])


def test_param_groups_refuses_all_frozen(tiny_cnn):
    freeze(tiny_cnn)
    with pytest.raises(ValueError, match="unfreeze"):
        param_groups(groups_of(tiny_cnn), 1e-3)
    with pytest.raises(ValueError, match="empty"):
        freeze_to([], 1)


def test_freeze_bn_stats_keeps_frozen_statistics_and_lets_trainable_ones_move(tiny_cnn):
    import torch

    from ftlab.freeze import freeze, freeze_bn_stats, unfreeze

    frozen_bn, free_bn = tiny_cnn[1], tiny_cnn[4]
    freeze(tiny_cnn[:3])
    freeze_bn_stats(tiny_cnn)
    before = frozen_bn.running_mean.clone(), free_bn.running_mean.clone()
    tiny_cnn.train()(torch.randn(8, 1, 6, 6) + 3)
    assert torch.equal(frozen_bn.running_mean, before[0]), "a frozen BatchNorm kept its statistics"
    assert not torch.equal(free_bn.running_mean, before[1]), "a trainable BatchNorm still learns them"
    unfreeze(tiny_cnn)
    tiny_cnn.train()(torch.randn(8, 1, 6, 6) + 3)
    assert not torch.equal(frozen_bn.running_mean, before[0]), "unfrozen, it trains normally again"
    assert freeze_bn_stats(tiny_cnn) is tiny_cnn and len(frozen_bn._forward_pre_hooks) == 1  # idempotent


def test_param_groups_takes_one_lr_per_group():
    from torch import nn

    from ftlab.freeze import param_groups

    groups = [nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 1)]
    out = param_groups(groups, [1e-3, 2e-3, 4e-3])
    assert [g["lr"] for g in out] == [1e-3, 2e-3, 4e-3] and [g["name"] for g in out] == ["group 0", "group 1", "group 2"]
    with pytest.raises(ValueError, match="one per group"):
        param_groups(groups, [1e-3, 2e-3])
