"""What a model costs where it runs: bytes on disk, latency, sparsity, and structured shrinking.

Follows the measurement habits of PyTorch's dynamic-quantisation BERT tutorial and MIT 6.5940's
pruning labs: size is the bytes of the saved ``state_dict`` (also gzipped, which is where
zeros from unstructured pruning show up), latency is timed after a warm-up and reported as the
fastest and the median of many repeats at a fixed number of threads (the fastest run is the
machine's floor, the median what a busy neighbour lets you have), and sparsity is an exact count
of zeros. :func:`prune_linear_pair` removes hidden units from two consecutive Linear layers for
real (structured pruning, e.g. a transformer's FFN neurons), so the model really shrinks.
"""
from __future__ import annotations

import gzip
import io
import statistics
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ftlab.profiling import MB


def state_dict_bytes(model: nn.Module | dict, compress: bool = False) -> int:
    """Bytes of ``torch.save(model.state_dict())`` (gzip level 6 when ``compress``)."""
    state = model if isinstance(model, dict) else model.state_dict()
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    return len(gzip.compress(data, compresslevel=6)) if compress else len(data)


def size_mb(model: nn.Module | dict) -> dict[str, float]:
    """State-dict size in MiB, raw and gzipped."""
    return {"mb": state_dict_bytes(model) / MB, "gzip_mb": state_dict_bytes(model, compress=True) / MB}


def tensor_bytes(t: torch.Tensor) -> int:
    """Bytes a weight holds, also for quantised tensor subclasses (their int data plus scales)."""
    if hasattr(t, "__tensor_flatten__") and type(t) is not nn.Parameter and type(t) is not torch.Tensor:
        names, _ = t.__tensor_flatten__()
        return sum(tensor_bytes(getattr(t, n)) for n in names if getattr(t, n) is not None)
    return t.numel() * t.element_size()


def linear_weight_bytes(model: nn.Module) -> int:
    """Bytes of the weights of every ``nn.Linear`` in ``model`` (biases not counted)."""
    return sum(tensor_bytes(m.weight) for m in model.modules() if isinstance(m, nn.Linear))


@contextmanager
def num_threads(n: int):
    """Run the block with ``torch.set_num_threads(n)``, then restore the previous setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class Latency:
    """Milliseconds per call: the fastest and the median of ``repeats`` timed calls."""

    fastest_ms: float
    median_ms: float
    repeats: int


def measure_latency(fn: Callable[[], object], repeats: int = 30, warmup: int = 3,
                    threads: int | None = None) -> Latency:
    """Time ``fn()`` ``repeats`` times after ``warmup`` untimed calls, at ``threads`` torch threads."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    with num_threads(threads or torch.get_num_threads()), torch.inference_mode():
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return Latency(min(times), statistics.median(times), repeats)


def count_zeros(modules: Iterable[nn.Module]) -> tuple[int, int]:
    """(zero weights, all weights) over the ``.weight`` of ``modules``."""
    zeros = total = 0
    for m in modules:
        w = m.weight.detach()
        zeros += int((w == 0).sum())
        total += w.numel()
    return zeros, total


def linear_layers(model: nn.Module, exclude: tuple[str, ...] = ()) -> list[tuple[str, nn.Linear]]:
    """(name, module) of every ``nn.Linear`` whose name contains none of ``exclude``."""
    return [(n, m) for n, m in model.named_modules()
            if isinstance(m, nn.Linear) and not any(e in n for e in exclude)]


def _sliced_linear(layer: nn.Linear, rows: torch.Tensor | None, cols: torch.Tensor | None) -> nn.Linear:
    w = layer.weight.detach()
    w = w[rows] if rows is not None else w
    w = w[:, cols] if cols is not None else w
    new = nn.Linear(w.shape[1], w.shape[0], bias=layer.bias is not None,
                    device=w.device, dtype=w.dtype)
    with torch.no_grad():
        new.weight.copy_(w)
        if layer.bias is not None:
            new.bias.copy_(layer.bias.detach()[rows] if rows is not None else layer.bias.detach())
    return new


def prune_linear_pair(parent: nn.Module, first: str, second: str, keep: float | int) -> torch.Tensor:
    """Keep the hidden units between ``parent.first`` and ``parent.second`` with the largest L1 norm.

    ``first`` maps to the hidden units (its rows), ``second`` reads them (its columns); ``first``
    and ``second`` are dotted submodule names. Both are replaced by smaller Linear layers, so the
    weights really shrink. ``keep`` is a fraction (0, 1] or a count. Returns the kept indices.
    """
    a, b = parent.get_submodule(first), parent.get_submodule(second)
    if a.out_features != b.in_features:
        raise ValueError(f"{first} has {a.out_features} outputs but {second} reads {b.in_features}: "
                         "they are not consecutive layers of one block.")
    n = keep if isinstance(keep, int) else round(keep * a.out_features)
    if not 1 <= n <= a.out_features:
        raise ValueError(f"keep must leave between 1 and {a.out_features} units, got {keep}.")
    # a unit matters by the weights into it and out of it
    score = a.weight.detach().abs().sum(1) + b.weight.detach().abs().sum(0)
    kept = torch.sort(torch.topk(score, n).indices).values
    for name, new in ((first, _sliced_linear(a, kept, None)), (second, _sliced_linear(b, None, kept))):
        owner, _, attr = name.rpartition(".")
        setattr(parent.get_submodule(owner) if owner else parent, attr, new)
    return kept
