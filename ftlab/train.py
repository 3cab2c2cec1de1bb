"""Training and evaluation: ``fit`` / ``evaluate`` / ``predict`` with progress bars and a history.

A deliberately small loop in the spirit of minGPT's trainer: AdamW, an optional LR schedule
stepped every batch (one-cycle by default, Smith 2018), a two-argument callback hook, and a
:class:`History` of per-step losses and learning rates per parameter group. Batches are either
``(x, y)`` tuples or Hugging Face style dicts (``model(**batch)`` returns ``.loss``/``.logits``).
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

Callback = Callable[[str, SimpleNamespace], object]


@dataclass
class History:
    """What happened during ``fit``: per-step loss and LRs, per-epoch metrics."""

    loss: list[float] = field(default_factory=list)  # one per step
    lrs: list[list[float]] = field(default_factory=list)  # per step, one per param group
    epochs: list[dict] = field(default_factory=list)  # epoch, train_loss, valid_loss, valid_acc, seconds

    @property
    def seconds(self) -> float:
        """Total training time."""
        return sum(e["seconds"] for e in self.epochs)

    def last(self, key: str) -> float:
        """The last epoch's value of ``key`` (e.g. ``"valid_acc"``)."""
        return self.epochs[-1][key]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def default_device() -> torch.device:
    """CUDA when there is a GPU, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy that also takes sequence logits (B, T, V) with targets (B, T)."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1))


def _logits(out) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if hasattr(out, "logits"):
        return out.logits
    return out[0]  # (logits, hidden) from recurrent models


def _to(batch, device: torch.device):
    if isinstance(batch, Mapping):
        return {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
    return [b.to(device) if hasattr(b, "to") else b for b in batch]


def forward_loss(model: nn.Module, batch, loss_fn: Callable | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Loss, logits and targets of one batch, tuple-style or dict-style."""
    if isinstance(batch, Mapping):
        out = model(**batch)
        labels = batch.get("labels")
        loss = loss_fn(_logits(out), labels) if loss_fn else out.loss
        return loss, _logits(out), labels
    x, *targets = batch  # (x, y), or (x, y1, y2, ...) for a loss_fn(logits, [y1, y2, ...])
    if not targets:
        raise ValueError("A tuple-style batch needs inputs and targets: (x, y), or (x, y1, y2) for a "
                         "loss_fn that takes several targets (e.g. teacher logits and labels).")
    y = targets[0] if len(targets) == 1 else targets
    logits = _logits(model(x))
    return (loss_fn or cross_entropy)(logits, y), logits, y


def make_scheduler(opt: torch.optim.Optimizer, schedule: str | Callable | None, total_steps: int):
    """An LR scheduler stepped per batch: 'onecycle', 'cosine', 'linear', 'constant' or a factory."""
    if callable(schedule):
        return schedule(opt, total_steps)
    if schedule in (None, "constant"):
        return None
    max_lrs = [g["lr"] for g in opt.param_groups]
    if schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lrs, total_steps=total_steps,
                                                   pct_start=0.25, anneal_strategy="cos",
                                                   cycle_momentum=False)
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
    if schedule == "linear":
        warm = max(1, total_steps // 10)
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min((s + 1) / warm, max(0.0, (total_steps - s) / (total_steps - warm + 1e-9))))
    raise ValueError(f"Unknown schedule {schedule!r}; use 'onecycle', 'cosine', 'linear', "
                     "'constant', None or a function (optimizer, total_steps) -> scheduler.")


def make_optimizer(model: nn.Module, params: Iterable | None, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW over ``params`` (parameter groups or tensors) or over the model's trainable parameters."""
    params = list(params) if params is not None else [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("Nothing to train: every parameter is frozen. Unfreeze a layer group "
                         "(ftlab.freeze.unfreeze / freeze_to) or pass params=...")
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def fit(model: nn.Module, train_dl: Iterable, epochs: int = 1, lr: float = 1e-3, *,
        params: Iterable | None = None, opt: torch.optim.Optimizer | None = None,
        loss_fn: Callable | None = None, schedule: str | Callable | None = "onecycle",
        valid_dl: Iterable | None = None, callbacks: Sequence[Callback] = (),
        weight_decay: float = 0.01, max_grad_norm: float | None = None,
        device: torch.device | str | None = None, progress: bool = True,
        history: History | None = None) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_dl``; return a :class:`History`.

    Args:
        params: parameter groups from ``ftlab.freeze.param_groups`` (each with its own lr),
            or None for every trainable parameter at ``lr``.
        opt: an optimizer to use instead of AdamW (its groups' lr are the peak LRs).
        loss_fn: ``loss_fn(logits, y)``; default cross-entropy, or the model's own ``.loss``
            for dict batches.
        schedule: stepped once per batch; see :func:`make_scheduler`.
        callbacks: functions ``cb(event, state)`` called with event ``"start"`` (once, before the
            first step), ``"step"`` (after each batch) and ``"epoch"``; returning ``"stop"`` ends training.
        history: a History to continue (for multi-stage training); a new one by default.
    """
    if len(train_dl) == 0:
        raise ValueError("train_dl is empty: check the dataset / subset you built.")
    device = torch.device(device) if device else default_device()
    model.to(device)
    opt = opt or make_optimizer(model, params, lr, weight_decay)
    total = epochs * len(train_dl)
    sched = make_scheduler(opt, schedule, total)
    hist = history or History()
    state = SimpleNamespace(model=model, opt=opt, history=hist, epoch=0, step=0, loss=float("nan"))
    if _notify(callbacks, "start", state):
        return hist
    bar = tqdm(total=total, desc="fit", disable=not progress, leave=False)
    try:
        for epoch in range(epochs):
            t0, losses = time.perf_counter(), []
            model.train()
            for batch in train_dl:
                loss = _train_step(model, _to(batch, device), opt, loss_fn, max_grad_norm)
                hist.lrs.append([g["lr"] for g in opt.param_groups])
                if sched is not None:
                    sched.step()
                losses.append(loss)
                hist.loss.append(loss)
                state.step, state.loss = state.step + 1, loss
                bar.update(1)
                if bar.n % 10 == 0:
                    bar.set_postfix(loss=f"{loss:.3f}")
                if _notify(callbacks, "step", state):
                    return _close(bar, hist)
            row = {"epoch": len(hist.epochs) + 1, "train_loss": float(np.mean(losses)),
                   "seconds": time.perf_counter() - t0}
            if valid_dl is not None:
                res = evaluate(model, valid_dl, loss_fn=loss_fn, device=device)
                row.update(valid_loss=res["loss"], valid_acc=res["acc"])
            hist.epochs.append(row)
            state.epoch = epoch + 1
            if _notify(callbacks, "epoch", state):
                break
    finally:
        bar.close()
    return hist


def _train_step(model, batch, opt, loss_fn, max_grad_norm) -> float:
    loss, _, _ = forward_loss(model, batch, loss_fn)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if max_grad_norm is not None:
        nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], max_grad_norm)
    opt.step()
    return loss.item()


def _notify(callbacks: Sequence[Callback], event: str, state: SimpleNamespace) -> bool:
    return any(cb(event, state) == "stop" for cb in callbacks)


def _close(bar, hist: History) -> History:
    bar.close()
    return hist


@torch.no_grad()
def predict(model: nn.Module, dl: Iterable, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and targets of every batch of ``dl``, concatenated (model in eval mode)."""
    device = torch.device(device) if device else default_device()
    model.to(device).eval()
    logits, targets = [], []
    for batch in dl:
        _, out, y = forward_loss(model, _to(batch, device), loss_fn=lambda o, t: o.new_zeros(()))
        logits.append(out.float().cpu())
        targets.append(y.cpu())
    return torch.cat(logits), torch.cat(targets)


@torch.no_grad()
def evaluate(model: nn.Module, dl: Iterable, loss_fn: Callable | None = None,
             device: torch.device | str | None = None) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` on ``dl``."""
    logits, y = predict(model, dl, device)
    loss = (loss_fn or cross_entropy)(logits, y).item()
    acc = (logits.argmax(-1) == y).float().mean().item()
    return {"loss": loss, "acc": acc}


def accuracy(model: nn.Module, dl: Iterable) -> float:
    """Fraction of examples in ``dl`` that ``model`` classifies correctly."""
    return evaluate(model, dl)["acc"]
