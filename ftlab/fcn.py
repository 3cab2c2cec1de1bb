"""A fully convolutional network (FCN) on a pretrained classification backbone.

Long, Shelhamer & Darrell (2015), *Fully convolutional networks for semantic segmentation*, as in
d2l's ``fcn.md``: the backbone's body is cut before its global pooling and head, a 1x1 convolution
turns its feature map into one score map per class, and a transposed convolution upsamples the
scores back to the input size. The upsampler starts as bilinear interpolation
(:func:`bilinear_kernel`), so before any training it is already a sensible, smooth upsampling.
"""
from __future__ import annotations

import torch
from torch import nn

from ftlab.freeze import freeze_bn_stats


def bilinear_kernel(in_channels: int, out_channels: int, kernel_size: int) -> torch.Tensor:
    """Weights (in, out, k, k) that make a ConvTranspose2d do bilinear upsampling, channel by channel."""
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float32)
    filt1d = 1 - (og - center).abs() / factor  # a triangle ("tent"), peak 1 at the centre
    weight = torch.zeros(in_channels, out_channels, kernel_size, kernel_size)
    ch = torch.arange(min(in_channels, out_channels))
    weight[ch, ch] = filt1d[:, None] * filt1d[None, :]  # channel c feeds only channel c
    return weight


def encoder_shape(backbone: nn.Module, size: int = 64) -> tuple[int, int]:
    """(stride, channels) of the body's feature map: one cell spans ``stride`` input pixels (pocket CNN: 4, 128)."""
    was = backbone.training
    backbone.eval()  # a dummy batch in train mode would move BatchNorm's running statistics
    with torch.no_grad():
        x = backbone.preprocess(torch.zeros(1, backbone.preprocess.channels, size, size))
        feats = backbone.body(x)
    backbone.train(was)
    return x.shape[-1] // feats.shape[-1], feats.shape[1]


class FCN(nn.Module):
    """Preprocess -> pretrained body (no pooling) -> 1x1 classifier -> transposed-conv upsampler.

    Args:
        backbone: a model with ``preprocess`` and ``body`` (``ftlab.models.load_backbone``).
        num_classes: classes including the background.
        upsample_init: 'bilinear' (d2l, FCN) or 'random' (PyTorch's default init).
        freeze_encoder: keep the body's weights and BatchNorm statistics fixed (BatchNorm in eval mode).
    """

    def __init__(self, backbone: nn.Module, num_classes: int, upsample_init: str = "bilinear",
                 freeze_encoder: bool = False):
        super().__init__()
        if upsample_init not in ("bilinear", "random"):
            raise ValueError(f"upsample_init must be 'bilinear' or 'random', not {upsample_init!r}.")
        s, channels = encoder_shape(backbone)
        self.preprocess, self.encoder = backbone.preprocess, backbone.body
        self.classifier = nn.Conv2d(channels, num_classes, kernel_size=1)
        self.upsample = nn.ConvTranspose2d(num_classes, num_classes, kernel_size=2 * s, stride=s,
                                           padding=s // 2, bias=False)  # (H/s, W/s) -> (H, W)
        if upsample_init == "bilinear":
            with torch.no_grad():
                self.upsample.weight.copy_(bilinear_kernel(num_classes, num_classes, 2 * s))
        self.encoder.requires_grad_(not freeze_encoder)
        if freeze_encoder:
            freeze_bn_stats(self.encoder)  # frozen BatchNorm stays in eval mode: its statistics stay too
        self.train()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.encoder(self.preprocess(x))        # (B, C_feat, H/s, W/s)
        return self.upsample(self.classifier(feats))    # (B, num_classes, H, W)
