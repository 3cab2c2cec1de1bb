"""What a training step costs: the memory it must hold and the time it takes.

On a GPU, ``torch.cuda.max_memory_allocated`` measures peak memory directly. On a CPU torch
has no such counter (and ``tracemalloc`` does not see torch's allocations), so
:func:`training_memory` writes out the bill of one AdamW step tensor by tensor: the weights,
a gradient per trainable weight, AdamW's two moment buffers per trainable weight, and the
activations autograd keeps for the backward pass. The activations are *measured*: every
tensor autograd saves during a real forward pass goes through a
``torch.autograd.graph.saved_tensors_hooks`` pack hook and is counted once per storage. The
bill leaves out short-lived temporaries and the allocator's own overhead, so it is a floor
under the true peak; :func:`peak_rss_delta_mb` gives the operating system's view instead.
"""
from __future__ import annotations

import resource
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from ftlab.train import forward_loss, to_device

MB = 2 ** 20


@dataclass
class TrainingMemory:
    """Bytes one training step holds, by kind."""

    params: int  # every weight, trainable or frozen
    grads: int  # one gradient per trainable weight
    optimizer: int  # AdamW: exp_avg + exp_avg_sq per trainable weight
    activations: int  # tensors saved for backward (measured)

    @property
    def total(self) -> int:
        """The whole bill in bytes."""
        return self.params + self.grads + self.optimizer + self.activations

    def mb(self) -> dict[str, float]:
        """Each part and the total in MiB."""
        parts = {k: getattr(self, k) for k in ("params", "grads", "optimizer", "activations")}
        return {**{k: v / MB for k, v in parts.items()}, "total": self.total / MB}


def _storage(t: torch.Tensor) -> tuple[int, int]:
    s = t.untyped_storage()
    return s.data_ptr(), s.nbytes()


def saved_activation_bytes(model: nn.Module, batch, loss_fn: Callable | None = None) -> int:
    """Bytes of the tensors autograd saves for backward in one forward pass (weights not counted)."""
    params = {_storage(p)[0] for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.layout == torch.strided and t.device.type != "meta":
            ptr, nbytes = _storage(t)
            if ptr not in params:  # a frozen weight saved for the input gradient is no new memory
                seen[ptr] = nbytes
        return t

    device = next(model.parameters()).device
    was_training = model.training
    model.train()  # dropout masks are part of the bill
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss, _, _ = forward_loss(model, to_device(batch, device), loss_fn)
        del loss  # frees the graph without a backward pass
    finally:
        model.train(was_training)
    return sum(seen.values())


def training_memory(model: nn.Module, batch, optimizer_slots: int = 2,
                    loss_fn: Callable | None = None) -> TrainingMemory:
    """The tensor bill of one training step of ``model`` on ``batch`` (AdamW keeps 2 slots per weight)."""
    params = list(model.parameters())
    trainable = sum(p.numel() * p.element_size() for p in params if p.requires_grad)
    return TrainingMemory(params=sum(p.numel() * p.element_size() for p in params),
                          grads=trainable, optimizer=optimizer_slots * trainable,
                          activations=saved_activation_bytes(model, batch, loss_fn))


def current_rss_mb() -> float:
    """Resident memory of this process now (Linux), else its peak so far, in MiB."""
    statm = Path("/proc/self/statm")
    if statm.exists():
        return int(statm.read_text().split()[1]) * resource.getpagesize() / MB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (MB if sys.platform == "darwin" else 1024)


def peak_rss_delta_mb(fn: Callable[[], object], interval: float = 0.002) -> tuple[object, float]:
    """Run ``fn``; return its result and how far resident memory rose above the start (MiB).

    Memory that an earlier step freed is reused without showing up here, so measure in a
    fresh process for numbers that compare.
    """
    start, peak, done = current_rss_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], current_rss_mb())
            time.sleep(interval)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        result = fn()
    finally:
        done.set()
        watcher.join()
    return result, max(peak[0], current_rss_mb()) - start


def cuda_peak_mb(fn: Callable[[], object], device: torch.device | str = "cuda") -> tuple[object, float]:
    """Run ``fn`` on a GPU; return its result and the peak memory torch allocated meanwhile (MiB)."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    result = fn()
    torch.cuda.synchronize(device)
    return result, (torch.cuda.max_memory_allocated(device) - before) / MB


class StepTimer:
    """A ``fit`` callback that times every step; the median shrugs off a busy neighbour."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._last: float | None = None

    def __call__(self, event: str, state: SimpleNamespace) -> None:
        if event == "step":
            now = time.perf_counter()
            if self._last is not None:  # the first step has no start mark; it also warms up
                self.times.append(now - self._last)
            self._last = now
        elif event == "epoch":
            self._last = None  # evaluation between epochs is not a step

    def median(self) -> float:
        """Median seconds per step."""
        if not self.times:
            raise ValueError("No steps timed: pass the StepTimer in fit(..., callbacks=[timer]) "
                             "and train for at least two steps.")
        return float(np.median(self.times))
