"""Training and evaluation: ``fit`` / ``evaluate`` / ``predict`` with progress bars and a history.

A deliberately small loop in the spirit of minGPT's trainer: AdamW, an optional LR schedule
stepped every batch (one-cycle by default, Smith 2018), a two-argument callback hook, and a
:class:`History` of per-step losses and learning rates per parameter group. Batches are either
``(x, y)`` tuples or Hugging Face style dicts (``model(**batch)`` returns ``.loss``/``.logits``).
"""
from __future__ import annotations

import math
import os
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
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
    group_names: list[list[str]] = field(default_factory=list)  # per step, the name of each of those groups
    epochs: list[dict] = field(default_factory=list)  # epoch, train_loss, valid_loss, valid_acc, seconds

    @property
    def seconds(self) -> float:
        """Total training time."""
        return sum(e["seconds"] for e in self.epochs)

    def last(self, key: str) -> float:
        """The last epoch's value of ``key`` (e.g. ``"valid_acc"``)."""
        return self.epochs[-1][key]


def seed_everything(seed: int, threads: int | None = None) -> int:
    """Seed Python, NumPy and torch, fix the thread count, prefer deterministic kernels; return the threads.

    Results of float reductions depend on how many threads split them, so the count is fixed for the
    run: ``threads``, else ``$FTLAB_THREADS``, else torch's current count.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    threads = threads or int(os.environ.get("FTLAB_THREADS") or 0) or torch.get_num_threads()
    torch.set_num_threads(threads)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # what deterministic cuBLAS asks for
    torch.use_deterministic_algorithms(True, warn_only=True)  # warn, not fail, where none exists
    torch.backends.cudnn.benchmark = False
    return threads


def default_device() -> torch.device:
    """``$FTLAB_DEVICE`` if set, else CUDA when there is a GPU, else the CPU. Call it once per lesson."""
    return torch.device(os.environ.get("FTLAB_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu"))


def fast_bf16(device: torch.device | str) -> bool:
    """Whether bfloat16 autocast speeds up training on ``device``: a CUDA GPU with bf16, or a CPU with
    native bf16 instructions (AVX512-BF16 or AMX; elsewhere a CPU emulates bf16, slower than fp32)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu" or not Path("/proc/cpuinfo").exists():
        return False
    flags = set(re.findall(r"\w+", Path("/proc/cpuinfo").read_text()))
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's first parameter (or buffer); the CPU for a model without tensors."""
    t = next(model.parameters(), None)
    t = t if t is not None else next(model.buffers(), None)
    return t.device if t is not None else torch.device("cpu")


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    index = lambda d: 0 if d.index is None and d.type == "cuda" else d.index  # noqa: E731  cuda == cuda:0
    return index(a) == index(b)


def run_device(model: nn.Module, device: torch.device | str | None = None) -> torch.device:
    """Where ``fit`` / ``predict`` run: the model's device; ``device``, if given, must be the same.

    ftlab never moves a model: a lesson picks its device once and moves its models itself, so that
    every tensor it compares lives on one device.
    """
    here = model_device(model)
    if device is not None and not _same_device(here, torch.device(device)):
        raise ValueError(f"The model is on {here} but device={device!s} was asked for. ftlab does not move "
                         f"models: call model.to({str(device)!r}) first (or pass device={str(here)!r}).")
    return here


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for (B, C) logits, sequence logits (B, T, V) with targets (B, T), and dense
    logits (B, C, H, W) with class-index targets (B, H, W) (segmentation; -100 is ignored)."""
    if logits.ndim == 4:
        return F.cross_entropy(logits, target)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1))


def _logits(out) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if hasattr(out, "logits"):
        return out.logits
    return out[0]  # (logits, hidden) from recurrent models


def to_device(batch, device: torch.device):
    """A batch (a tensor, a tuple/list or a dict of tensors) with every tensor moved to ``device``."""
    if isinstance(batch, torch.Tensor):  # inputs only, e.g. a list of tensors used as a loader
        return batch.to(device)
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
        if 0.25 * total_steps > 1:  # torch's OneCycleLR divides by the warm-up length, zero below 5 steps
            return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lrs, total_steps=total_steps,
                                                       pct_start=0.25, anneal_strategy="cos",
                                                       cycle_momentum=False)
        for g in opt.param_groups:
            g["lr"] = g["initial_lr"] = g["lr"] / 25  # where OneCycleLR would start
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 25 * _one_cycle(s, total_steps))
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
    if schedule == "linear":
        warm = max(1, total_steps // 10)
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min((s + 1) / warm, max(0.0, (total_steps - s) / (total_steps - warm + 1e-9))))
    raise ValueError(f"Unknown schedule {schedule!r}; use 'onecycle', 'cosine', 'linear', "
                     "'constant', None or a function (optimizer, total_steps) -> scheduler.")


def _one_cycle(step: int, total: int, pct: float = 0.25, div: float = 25.0, final_div: float = 1e4) -> float:
    """OneCycleLR's cosine warm-up and annealing as a fraction of the peak LR, defined for any total."""
    up, lo = pct * total - 1, 1 / div
    if 0 < up and step <= up:
        return lo + (1 - lo) * (1 - math.cos(math.pi * step / up)) / 2
    down = total - 1 - max(up, 0)
    t = min(1.0, (step - max(up, 0)) / down) if down > 0 else 1.0
    return lo / final_div + (1 - lo / final_div) * (1 + math.cos(math.pi * t)) / 2


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
        history: History | None = None, autocast: torch.dtype | None = None) -> History:
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
        autocast: e.g. ``torch.bfloat16``: run each forward pass under ``torch.autocast`` (mixed precision;
            the weights, gradients and optimizer state stay 32-bit). See :func:`fast_bf16`.
    """
    if len(train_dl) == 0:
        raise ValueError("train_dl is empty: check the dataset / subset you built.")
    device = run_device(model, device)
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
                loss = _train_step(model, to_device(batch, device), opt, loss_fn, max_grad_norm, autocast)
                hist.lrs.append([g["lr"] for g in opt.param_groups])
                hist.group_names.append([g.get("name", f"group {i}") for i, g in enumerate(opt.param_groups)])
                if sched is not None:
                    sched.step()
                losses.append(loss)
                hist.loss.append(loss)
                state.step, state.loss = state.step + 1, loss
                bar.update(1)
                if bar.n % 10 == 0:
                    bar.set_postfix(loss=f"{loss:.3f}")
                if _notify(callbacks, "step", state):
                    return hist  # the finally below closes the bar
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


def _train_step(model, batch, opt, loss_fn, max_grad_norm, autocast=None) -> float:
    with torch.autocast(model_device(model).type, dtype=autocast, enabled=autocast is not None):
        loss, _, _ = forward_loss(model, batch, loss_fn)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if max_grad_norm is not None:
        nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], max_grad_norm)
    opt.step()
    return loss.item()


def _notify(callbacks: Sequence[Callback], event: str, state: SimpleNamespace) -> bool:
    return any(cb(event, state) == "stop" for cb in callbacks)


def _inputs_and_targets(model: nn.Module, batch) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits of one batch and its targets, or None where the batch has none (inputs only)."""
    if isinstance(batch, Mapping):
        return _logits(model(**batch)), batch.get("labels")
    if isinstance(batch, torch.Tensor):
        return _logits(model(batch)), None
    x, *targets = batch
    return _logits(model(x)), (targets[0] if targets else None)


@torch.no_grad()
def predict(model: nn.Module, dl: Iterable, device: torch.device | str | None = None
            ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits and targets of every batch of ``dl``, concatenated on the CPU (model in eval mode, where it is).

    Batches may carry no targets (a dict without ``labels``, ``(x,)`` or a bare tensor): the targets are then None.
    """
    device = run_device(model, device)
    model.eval()
    logits, targets = [], []
    for batch in dl:
        out, y = _inputs_and_targets(model, to_device(batch, device))
        logits.append(out.float().cpu())
        targets.append(None if y is None else y.cpu())
    if not logits:
        raise ValueError("predict got no batches: the data loader is empty.")
    if any(t is None for t in targets):
        return torch.cat(logits), None
    return torch.cat(logits), torch.cat(targets)


@torch.no_grad()
def evaluate(model: nn.Module, dl: Iterable, loss_fn: Callable | None = None,
             device: torch.device | str | None = None) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` on ``dl``."""
    logits, y = predict(model, dl, device)
    if y is None:
        raise ValueError("evaluate needs labelled batches ((x, y) or a dict with 'labels'); "
                         "for unlabelled data use predict(model, dl), which returns the logits.")
    loss = (loss_fn or cross_entropy)(logits, y).item()
    pred = logits.argmax(1) if logits.ndim == 4 else logits.argmax(-1)  # dense (B, C, H, W): per pixel
    acc = (pred == y).float().mean().item()
    return {"loss": loss, "acc": acc}


def accuracy(model: nn.Module, dl: Iterable, device: torch.device | str | None = None) -> float:
    """Fraction of examples in ``dl`` that ``model`` classifies correctly."""
    return evaluate(model, dl, device=device)["acc"]
