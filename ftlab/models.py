"""Vision backbones that carry their own preprocessing, plus ``replace_head`` and splitters.

Every backbone here has the same shape of API (as torchvision / timm weights carry their
transforms): ``model.preprocess`` turns images in [0, 1] of shape (B, C, H, W) into what the
network expects (channels, size, mean/std), ``model.body`` is a sequence of layers,
``model.forward_features(x)`` returns pooled features (B, D), and ``model.head`` is the
classifier that transfer learning replaces.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ftlab.assets import load_pretrained, profile

POCKET_WIDTHS = (32, 32, 64, 64, 128)
POCKET_POOL_AFTER = (1, 3)  # max-pool after these body layers: 40 -> 20 -> 10
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class Preprocess(nn.Module):
    """Map images in [0, 1], (B, C, H, W), to the channels, size and mean/std a backbone wants."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], size: int | None = None):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        self.size = size

    @property
    def channels(self) -> int:
        return self.mean.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_images(x, self.channels)
        if x.shape[1] == 1 and self.channels == 3:
            x = x.expand(-1, 3, -1, -1)  # grey -> RGB by repetition
        if self.size is not None and x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
        return (x - self.mean) / self.std


def check_images(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Raise a helpful error unless ``x`` is a float batch (B, C, H, W) with C = 1 or ``channels``."""
    if not torch.is_tensor(x) or x.ndim != 4:
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"expected a batch of images (B, C, H, W), got {shape}. "
                         "Add a batch dimension with x[None] or a channel one with x.unsqueeze(1).")
    if x.shape[1] not in (1, channels):
        raise ValueError(f"expected {channels} (or 1) channels, got {x.shape[1]} in shape {tuple(x.shape)}; "
                         "images must be (B, C, H, W) with C first.")
    if not x.is_floating_point():
        raise ValueError("images must be floats in [0, 1]; divide uint8 images by 255.")
    return x


def conv_block(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    """3x3 conv -> BatchNorm -> ReLU (-> 2x2 max-pool)."""
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if pool else []))


class PocketCNN(nn.Module):
    """A small 5-layer CNN: the pocket profile's pretrained vision backbone."""

    def __init__(self, num_classes: int = 5, widths: tuple[int, ...] = POCKET_WIDTHS,
                 mean: float = 0.14, std: float = 0.30):
        super().__init__()
        self.preprocess = Preprocess((mean,), (std,))
        chans = (1, *widths)
        self.body = nn.Sequential(*[conv_block(chans[i], chans[i + 1], i in POCKET_POOL_AFTER)
                                    for i in range(len(widths))])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(widths[-1], num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (B, D) of images (B, 1, H, W) in [0, 1]."""
        return self.pool(self.body(self.preprocess(x))).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))  # (B, num_classes)


class ResNetBackbone(nn.Module):
    """torchvision's ResNet-18 in the same shape of API as :class:`PocketCNN` (full profile)."""

    def __init__(self, num_classes: int = 1000, pretrained: bool = True):
        super().__init__()
        from torchvision.models import ResNet18_Weights, resnet18

        net = resnet18(weights=ResNet18_Weights.IMAGENET1K_V1 if pretrained else None)
        self.preprocess = Preprocess(IMAGENET_MEAN, IMAGENET_STD, size=224)
        self.body = nn.Sequential(nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool),
                                  net.layer1, net.layer2, net.layer3, net.layer4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = net.fc if num_classes == 1000 else nn.Linear(512, num_classes)

    forward_features = PocketCNN.forward_features
    forward = PocketCNN.forward


def pocket_cnn(num_classes: int = 5, pretrained: bool = True, verbose: bool = True) -> PocketCNN:
    """The pocket CNN; pretrained on Fashion-MNIST classes 0-4 unless ``pretrained=False``."""
    model = PocketCNN(num_classes=5)
    if pretrained:
        state, _ = load_pretrained("pocket_cnn")  # sha256-checked against its card
        model.load_state_dict(state)
    if num_classes != 5:
        replace_head(model, num_classes, verbose=verbose)
    return model


def load_backbone(num_classes: int | None = None, pretrained: bool = True, profile_name: str | None = None,
                  verbose: bool = True, device: torch.device | str = "cpu") -> nn.Module:
    """The lesson's CNN for the active profile, on ``device``: pocket CNN (pocket) or ResNet-18 ImageNet (full).

    With ``num_classes`` the pretrained head is replaced by a new one, which is reported unless
    ``verbose=False`` (useful in loops that build many models).
    """
    if (profile_name or profile()) == "full":
        model = ResNetBackbone(pretrained=pretrained)
    else:
        model = pocket_cnn(pretrained=pretrained, verbose=False)
    if num_classes is not None:
        replace_head(model, num_classes, verbose=verbose)
    return model.to(device)


def replace_head(model: nn.Module, num_classes: int, verbose: bool = True) -> nn.Linear:
    """Swap ``model.head`` for a fresh linear layer with ``num_classes`` outputs; say what was dropped."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}.")
    old = model.head
    # the new head lives where the old one did, so a model on a GPU stays on it
    model.head = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)
    if verbose:
        print(f"replace_head: dropped head.weight {tuple(old.weight.shape)} and head.bias; "
              f"new head Linear({old.in_features} -> {num_classes}) is randomly initialised.")
    return model.head


def forward_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Pooled features (B, D) of a backbone, without its head."""
    return model.forward_features(x)


def layer_groups(model: nn.Module) -> list[nn.Module]:
    """Splitter for discriminative LRs: early body, middle body, late body, head."""
    body = list(model.body)
    chunks = np.array_split(np.arange(len(body)), 3)  # 5 layers -> 2, 2, 1
    return [nn.Sequential(*[body[i] for i in c]) for c in chunks] + [model.head]
