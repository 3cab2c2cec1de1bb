"""The learning-rate range test (Smith 2017, *Cyclical learning rates*; fastai's ``lr_find``).

Train for a few steps while the LR grows geometrically from ``start`` to ``end``, record the
loss at each LR, stop once the loss has blown up, and restore the model's weights. The
suggested LR is where the smoothed loss falls fastest (fastai's 'steep' suggestion) or a tenth
of the LR at its minimum (the older rule of thumb).
"""
from __future__ import annotations

import copy
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def lr_range_test(model: nn.Module, dl: Iterable, start: float = 1e-6, end: float = 1.0, steps: int = 100,
                  device: torch.device | str = "cpu", diverge: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """LRs and losses of ``steps`` AdamW steps at geometrically growing LRs; the model is left unchanged."""
    state = copy.deepcopy(model.state_dict())
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=start, weight_decay=0.0)
    lrs = start * (end / start) ** (np.arange(steps) / max(1, steps - 1))
    losses, it = [], iter(dl)
    model.to(device).train()
    for lr in lrs:
        x, y = next(it)
        for g in opt.param_groups:
            g["lr"] = float(lr)
        loss = F.cross_entropy(model(x.to(device)), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if not np.isfinite(losses[-1]) or losses[-1] > diverge * min(losses):
            break
    model.load_state_dict(state)
    return lrs[:len(losses)], np.array(losses)


def smooth(values: np.ndarray, beta: float = 0.9) -> np.ndarray:
    """Bias-corrected exponential moving average, as fastai smooths the range test's losses."""
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta ** i))
    return np.array(out)


def suggest_lr(lrs: np.ndarray, losses: np.ndarray, rule: str = "steep") -> float:
    """'steep': the LR where the smoothed loss falls fastest per log-LR; 'min/10': a tenth of the LR at the minimum."""
    s = smooth(losses)
    if rule == "min/10":
        return float(lrs[int(np.argmin(s))] / 10)
    if rule != "steep":
        raise ValueError(f"rule must be 'steep' or 'min/10', not {rule!r}.")
    slope = np.gradient(s, np.log(lrs))
    return float(lrs[int(np.argmin(slope[:int(np.argmin(s)) + 1]))])
