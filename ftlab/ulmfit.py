"""ULMFiT's fine-tuning recipe: discriminative LRs, slanted triangular LRs, gradual unfreezing.

Follows Howard & Ruder 2018, "Universal Language Model Fine-tuning for Text Classification"
(ACL), in three stages: (1) pretrain a language model (LM) on general text, (2) fine-tune it on
target-domain text with discriminative learning rates and slanted triangular LRs (STLR), (3) put
a classifier with concat pooling on its encoder and fine-tune with gradual unfreezing. The model
(an AWD-LSTM) is :mod:`ftlab.awd_lstm`; its layer groups come from :func:`ftlab.models.layer_groups`.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

from ftlab.freeze import freeze_to, param_groups
from ftlab.models import layer_groups
from ftlab.train import History, fit


def discriminative_lrs(base_lr: float, n_groups: int, factor: float = 2.6) -> list[float]:
    """One LR per group: the top group gets ``base_lr``, each lower one ``factor`` times less."""
    return [base_lr / factor ** (n_groups - 1 - i) for i in range(n_groups)]


def stlr(cut_frac: float = 0.1, ratio: float = 32) -> Callable:
    """Slanted triangular LRs: a schedule factory ``(optimizer, total_steps) -> scheduler`` for ``fit``.

    The LR rises linearly for the first ``cut_frac`` of the steps from max/ratio to max, then
    falls linearly back to max/ratio (Howard & Ruder 2018, eq. 3).
    """
    def factory(opt: torch.optim.Optimizer, total_steps: int):
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda t: stlr_factor(t, total_steps, cut_frac, ratio))
    return factory


def stlr_factor(t: int, total_steps: int, cut_frac: float = 0.1, ratio: float = 32) -> float:
    """The multiplier of the peak LR at step ``t`` of ``total_steps`` under STLR."""
    cut = max(1, math.floor(total_steps * cut_frac))
    p = t / cut if t < cut else 1 - (t - cut) / max(1, total_steps - cut)
    return (1 + max(0.0, p) * (ratio - 1)) / ratio


def gradual_unfreeze(model: nn.Module, train_dl: Iterable, lr: float, *, epochs: int = 1,
                     factor: float = 2.6, schedule: Callable | str | None = None,
                     valid_dl: Iterable | None = None, last_epochs: int | None = None,
                     **fit_kwargs) -> History:
    """Fine-tune ``model`` top-down: unfreeze one more layer group per stage (ULMFiT section 3.3).

    Stage k trains the top k groups for ``epochs`` (the last stage, all groups, for
    ``last_epochs``), with discriminative LRs ``lr / factor**depth`` and a fresh STLR cycle.
    """
    groups = layer_groups(model)
    hist = History()
    for k in range(1, len(groups) + 1):
        freeze_to(groups, len(groups) - k)
        n_ep = last_epochs if k == len(groups) and last_epochs else epochs
        fit(model, train_dl, n_ep, params=param_groups(groups, discriminative_lrs(lr, len(groups), factor)),
            schedule=schedule or stlr(), valid_dl=valid_dl, history=hist, **fit_kwargs)
    return hist
