"""Tests of ftlab.profiling: the memory bill of a step and the step timer, on tiny models."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ftlab.freeze import freeze
from ftlab.profiling import (MB, StepTimer, cuda_peak_mb, peak_rss_delta_mb, saved_activation_bytes,
                             training_memory)
from ftlab.train import fit

B = 8


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(B, 10, generator=g), torch.randint(0, 2, (B,), generator=g)


def test_weights_grads_and_adam_slots_are_counted(mlp):
    n_all = sum(p.numel() for p in mlp.parameters())
    freeze(mlp[0])
    n_train = sum(p.numel() for p in mlp[2].parameters())
    mem = training_memory(mlp, _batch())
    assert (mem.params, mem.grads, mem.optimizer) == (4 * n_all, 4 * n_train, 8 * n_train)
    assert mem.total == mem.params + mem.grads + mem.optimizer + mem.activations
    assert mem.mb()["total"] == pytest.approx(mem.total / MB)


def test_activations_are_measured_and_shrink_when_the_body_is_frozen(mlp):
    full = saved_activation_bytes(mlp, _batch())
    # Linear 1 keeps its input (B, 10), ReLU its output (B, 32), which Linear 2 shares
    assert full >= 4 * B * (10 + 32)
    freeze(mlp[0])  # the first layer needs no gradient: nothing before the ReLU is kept
    head_only = saved_activation_bytes(mlp, _batch())
    assert 0 < head_only < full
    freeze(mlp)
    assert saved_activation_bytes(mlp, _batch()) == 0  # no graph at all


def test_activation_count_leaves_the_model_mode_alone(mlp):
    mlp.eval()
    saved_activation_bytes(mlp, _batch())
    assert not mlp.training


def test_rss_delta_sees_a_large_allocation():
    # in a fresh process, as the function's docstring asks: a pytest worker that has already run other
    # tests reuses memory they freed, so the allocation need not raise its resident size (seen in CI)
    import subprocess
    import sys

    code = ("import torch\nfrom ftlab.profiling import MB, peak_rss_delta_mb\n"
            "def allocate():\n    t = torch.ones(64 * MB // 4)\n    return float(t[-1])\n"
            "result, delta = peak_rss_delta_mb(allocate)\nprint(result, delta)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    result, delta = map(float, out.stdout.split())
    assert result == 1.0 and delta > 40


def test_step_timer_times_every_step_but_the_first_of_each_epoch(mlp, xor_loader):
    timer = StepTimer()
    fit(mlp, xor_loader, epochs=2, lr=1e-2, device="cpu", progress=False, callbacks=[timer])
    assert len(timer.times) == 2 * (len(xor_loader) - 1)
    assert 0 < timer.median() < 1
    with pytest.raises(ValueError, match="StepTimer"):
        StepTimer().median()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_peak_sees_an_allocation():
    _, peak = cuda_peak_mb(lambda: torch.ones(16 * MB // 4, device="cuda"))
    assert peak >= 16
