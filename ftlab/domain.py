"""Unsupervised domain adaptation: a seeded domain shift, AdaBN, Deep CORAL, DANN, pseudo-labels.

The target domain is the same classes after a shift a learner can see: MNIST-M-style blending
(Ganin et al. 2016) of each image with a random patch of a photo or texture that ships with
scikit-image. The methods follow their papers: AdaBN (Li et al. 2016, *Revisiting batch
normalization for practical domain adaptation*) re-estimates BatchNorm statistics on target
data; Deep CORAL (Sun & Saenko 2016) matches the covariance of source and target features;
DANN (Ganin et al. 2016, *Domain-adversarial training of neural networks*) trains the features
against a domain classifier through a gradient-reversal layer with the warm-up
``lambda_p = 2 / (1 + exp(-10 p)) - 1``; pseudo-labelling (Lee 2013) keeps the target
predictions the model is confident about. The public DA libraries are stale (see DESIGN.md),
so each method is written here in a few lines.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ftlab.train import run_device

PHOTOS = ("brick", "grass", "gravel", "camera", "coffee", "astronaut", "chelsea", "rocket")


def _photos() -> list[np.ndarray]:
    """Greyscale float photos in [0, 1] from scikit-image's bundled data."""
    from skimage import color, data

    out = []
    for name in PHOTOS:
        img = getattr(data, name)()
        out.append((color.rgb2gray(img) if img.ndim == 3 else img / 255.0).astype(np.float32))
    return out


def shift_domain(images: torch.Tensor, seed: int = 0, alpha: float = 0.5) -> torch.Tensor:
    """MNIST-M-style target domain: ``|patch - x|`` blended with ``x``, one random photo patch per image.

    ``images`` (N, 1, H, W) in [0, 1]; returns the same shape. Deterministic from ``seed``.
    """
    n, _, h, w = images.shape
    rng, photos = np.random.default_rng(seed), _photos()
    patches = np.empty((n, h, w), dtype=np.float32)
    for i in range(n):
        p = photos[rng.integers(len(photos))]
        y, x = rng.integers(0, p.shape[0] - h + 1), rng.integers(0, p.shape[1] - w + 1)
        patches[i] = p[y:y + h, x:x + w]
    patches = torch.from_numpy(patches).unsqueeze(1)
    return ((1 - alpha) * images + alpha * (patches - images).abs()).clamp(0, 1)


class GradReverse(torch.autograd.Function):
    """Identity on the way forward, gradient times ``-lambda`` on the way back (Ganin et al. 2016)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.lam * grad, None


def grad_reverse(x: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """The gradient-reversal layer."""
    return GradReverse.apply(x, lam)


def dann_lambda(progress: float, gamma: float = 10.0) -> float:
    """DANN's warm-up of the reversal strength: 0 at the start, -> 1 at the end (progress in [0, 1])."""
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


def coral_loss(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Deep CORAL: squared Frobenius distance of the feature covariances, over 4 d^2 (B, d) x (B', d)."""
    d = source.size(1)
    cs, ct = torch.cov(source.T), torch.cov(target.T)  # (d, d) each
    return ((cs - ct) ** 2).sum() / (4 * d * d)


@torch.no_grad()
def adapt_bn(model: nn.Module, images: torch.Tensor, batch_size: int = 64,
             device: torch.device | str | None = None) -> nn.Module:
    """AdaBN: replace every BatchNorm's running mean/var by the statistics of ``images``; weights untouched.

    Batches of 64 by default: on one CPU thread, larger batches of the pocket CNN cost more per image.
    """
    device = run_device(model, device)  # batches go where the model is, as in ftlab.train.fit
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over all batches, not an exponential one
    model.train()
    for i in range(0, len(images), batch_size):
        model(images[i:i + batch_size].to(device))
    for m, mom in zip(bns, saved):
        m.momentum = mom
    return model.eval()


@torch.no_grad()
def pseudo_label(model: nn.Module, images: torch.Tensor, threshold: float = 0.9, batch_size: int = 64,
                 device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices and predicted labels of the images whose top softmax probability is >= ``threshold``."""
    device = run_device(model, device)
    model.eval()
    probs = torch.cat([model(images[i:i + batch_size].to(device)).softmax(-1).cpu()
                       for i in range(0, len(images), batch_size)])
    conf, labels = probs.max(-1)
    keep = torch.nonzero(conf >= threshold).flatten()
    return keep, labels[keep]


def domain_classifier(dim: int, hidden: int = 64) -> nn.Module:
    """DANN's discriminator: features (B, dim) -> one logit 'is target'."""
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))


def fit_adapt(model: nn.Module, source_dl, target_images: torch.Tensor, align: Callable, lr: float = 1e-3,
              extra: nn.Module | None = None, device: torch.device | str | None = None, seed: int = 0,
              callback: Callable | None = None) -> list[float]:
    """Train on labelled source batches plus ``align(f_src, f_tgt, progress)``, with unlabelled target batches.

    ``align`` returns the alignment loss (CORAL, or DANN's domain loss through ``grad_reverse``);
    ``extra`` holds its parameters (DANN's discriminator). ``callback(step)`` runs every step.
    """
    device = run_device(model, device)
    params = list(model.parameters()) + (list(extra.parameters()) if extra is not None else [])
    opt = torch.optim.AdamW([p for p in params if p.requires_grad], lr=lr, weight_decay=0.01)
    gen, steps, losses = torch.Generator().manual_seed(seed), len(source_dl), []
    for step, (xs, ys) in enumerate(source_dl):
        xt = target_images[torch.randint(len(target_images), (len(xs),), generator=gen)]
        model.train()
        f = model.forward_features(torch.cat([xs, xt]).to(device))  # (2B, d): one pass, BN sees both domains
        fs, ft = f[:len(xs)], f[len(xs):]
        loss = F.cross_entropy(model.head(fs), ys.to(device)) + align(fs, ft, step / max(1, steps - 1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if callback is not None:
            callback(step)
    return losses
