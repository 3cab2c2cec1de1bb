"""Freezing, unfreezing and parameter groups with discriminative learning rates.

Follows fastai's vocabulary (Howard & Gugger 2020): a *splitter* turns a model into a list
of layer groups, ``freeze_to(groups, n)`` freezes the first ``n`` groups, and
``param_groups(groups, lr=slice(lo, hi))`` spreads learning rates geometrically from the
first group (``lo``) to the last (``hi``).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from torch import nn

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm)
Group = nn.Module | Sequence[nn.Parameter]


def _params(group: Group) -> list[nn.Parameter]:
    return list(group.parameters()) if isinstance(group, nn.Module) else list(group)


def set_trainable(group: Group, trainable: bool, train_bn: bool = False) -> None:
    """Set ``requires_grad`` on a module or parameter list (norm layers stay trainable if train_bn)."""
    for p in _params(group):
        p.requires_grad_(trainable)
    if train_bn and isinstance(group, nn.Module):
        for m in group.modules():
            if isinstance(m, _BN):
                for p in m.parameters():
                    p.requires_grad_(True)


def freeze(group: Group, train_bn: bool = False) -> None:
    """Stop gradients for every parameter of ``group`` (norm layers too unless train_bn)."""
    set_trainable(group, False, train_bn)


def unfreeze(group: Group) -> None:
    """Let every parameter of ``group`` learn again."""
    set_trainable(group, True)


def freeze_to(groups: Sequence[Group], n: int, train_bn: bool = False) -> None:
    """Freeze ``groups[:n]`` and unfreeze ``groups[n:]`` (``n=-1``: only the last group learns)."""
    if not groups:
        raise ValueError("freeze_to needs at least one layer group; got an empty list.")
    n = n % len(groups) if n < 0 else min(n, len(groups))
    for i, g in enumerate(groups):
        set_trainable(g, i >= n, train_bn)


def _stay_in_eval_if_frozen(module: nn.Module, inputs) -> None:
    if not any(p.requires_grad for p in module.parameters()):
        module.eval()  # normalise with the stored statistics and leave them untouched


def freeze_bn_stats(model: nn.Module) -> nn.Module:
    """Keep every *frozen* BatchNorm layer in eval mode, even while the model trains (fastai's ``BnFreeze``).

    A frozen BatchNorm still updates its running statistics in train mode; with this, a frozen body
    computes at training time exactly what it computes at test time. The rule is checked at every
    forward pass, so a layer unfrozen later trains normally again after the next ``model.train()``.
    """
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not getattr(m, "_ftlab_bn_frozen", False):
            m.register_forward_pre_hook(_stay_in_eval_if_frozen)
            m._ftlab_bn_frozen = True
    return model


def lr_per_group(lr: float | slice | Sequence[float], n_groups: int) -> list[float]:
    """One LR per group; a ``slice(lo, hi)`` is spread geometrically, ``slice(hi)`` gives hi/10 to the rest,
    and a sequence gives each group its own (e.g. ``ftlab.ulmfit.discriminative_lrs``)."""
    if isinstance(lr, Sequence):
        if len(lr) != n_groups:
            raise ValueError(f"{len(lr)} learning rates for {n_groups} layer groups; give one per group.")
        return [float(v) for v in lr]
    if not isinstance(lr, slice):
        return [float(lr)] * n_groups
    if lr.start is None:  # fastai: slice(hi) means hi/10 for all groups but the last
        return [lr.stop / 10] * (n_groups - 1) + [float(lr.stop)]
    if n_groups == 1:
        return [float(lr.stop)]
    return np.geomspace(lr.start, lr.stop, n_groups).tolist()


def param_groups(groups: Sequence[Group], lr: float | slice | Sequence[float], names: Sequence[str] | None = None,
                 **extra) -> list[dict]:
    """Optimizer parameter groups, one per layer group, with trainable parameters only.

    Each group is named (``names[i]``, else ``"group i"`` by its position in ``groups``), so a history
    whose stages train different subsets of groups still lines them up (``ftlab.plots.plot_lrs``).
    """
    lrs = lr_per_group(lr, len(groups))
    names = list(names) if names is not None else [f"group {i}" for i in range(len(groups))]
    if len(names) != len(groups):
        raise ValueError(f"{len(names)} names for {len(groups)} layer groups; give one name per group.")
    out = []
    for g, group_lr, name in zip(groups, lrs, names):
        params = [p for p in _params(g) if p.requires_grad]
        if params:
            out.append({"params": params, "lr": group_lr, "name": name, **extra})
    if not out:
        raise ValueError("No trainable parameters in any group: unfreeze some layers first.")
    return out


def count_params(model: nn.Module | Iterable[nn.Parameter], trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    params = model.parameters() if isinstance(model, nn.Module) else model
    return sum(p.numel() for p in params if p.requires_grad or not trainable_only)
