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
    """Map uint8 or [0, 1] float images (B, 1 or 3, H, W) to the channels, size and mean/std a backbone wants."""

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
        elif x.shape[1] == 3 and self.channels == 1:
            x = x.mean(1, keepdim=True)  # RGB -> grey for a grey-scale network
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
        return (x - self.mean) / self.std


def check_images(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Images as floats in [0, 1]: uint8 batches (0-255) are scaled; anything else gets an error that says
    what to do (a missing batch or channel axis, channels last, floats outside [0, 1] such as 0-255)."""
    if not torch.is_tensor(x) or x.ndim != 4:
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"expected a batch of images (B, C, H, W), got {shape}. "
                         "Add a batch dimension with x[None] or a channel one with x.unsqueeze(1).")
    if x.shape[1] not in (1, 3):
        raise ValueError(f"expected 1 (grey) or 3 (RGB) channels, got {x.shape[1]} in shape {tuple(x.shape)}; "
                         "images must be (B, C, H, W) with C first.")
    if x.dtype == torch.uint8:
        return x.float() / 255  # as torchvision's ToDtype(torch.float32, scale=True)
    if not x.is_floating_point():
        raise ValueError(f"images must be uint8 (0-255) or floats in [0, 1], got {x.dtype}.")
    tracing = torch.compiler.is_compiling() or torch.jit.is_tracing()  # torch.export / ONNX: no value checks
    if not tracing and x.device.type != "meta" and x.numel() and (x.min() < -1e-3 or x.max() > 1 + 1e-3):
        raise ValueError(f"float images must be in [0, 1], got values from {x.min().item():.3g} to "
                         f"{x.max().item():.3g}; divide 0-255 floats by 255 (or pass them as uint8). "
                         "Normalisation (mean/std) happens inside the model's preprocess.")
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


class EfficientNetBackbone(nn.Module):
    """EfficientNet-Lite0 ImageNet (ftlab.effnet) in the same shape of API as :class:`PocketCNN`.

    ``preprocess`` takes images in [0, 1] (grey ones are repeated to RGB), resizes them to ``size`` and applies
    the weights' own input scaling, (x - 0.5) / 0.5; ``body`` is [stem, the 16 MBConv blocks, 1x1 conv head];
    ``head`` the ImageNet classifier (dropout 0.2 before it, as trained).
    """

    def __init__(self, num_classes: int = 1000, pretrained: bool = True, size: int = 224):
        super().__init__()
        from ftlab import effnet

        net = effnet.efficientnet_lite0(pretrained=pretrained)
        prep = effnet.PREPROCESSING
        self.preprocess = Preprocess(prep.mean, prep.std, size=size)
        self.body = nn.Sequential(_Stem(net._conv_stem, net._bn0), *net._blocks, _Stem(net._conv_head, net._bn1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = net._dropout
        self.head = net._fc if num_classes == 1000 else nn.Linear(effnet.FEATURE_DIM, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (B, 1280) of images (B, 1 or 3, H, W) in [0, 1]."""
        x = self.preprocess(x).contiguous(memory_format=torch.channels_last)  # depthwise convs: faster on CPU
        return self.pool(self.body(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.forward_features(x)))  # (B, num_classes)


class _Stem(nn.Module):
    """conv -> BatchNorm -> ReLU6, holding the modules (and so the parameter names) it was given."""

    def __init__(self, conv: nn.Module, bn: nn.Module):
        super().__init__()
        self.conv, self.bn = conv, bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self.bn(self.conv(x)))


BACKBONES = ("pocket_cnn", "resnet18", "efficientnet_lite0", "pocket_vit", "dinov2_small")


def pocket_cnn(num_classes: int = 5, pretrained: bool = True, verbose: bool = True) -> PocketCNN:
    """The pocket CNN; pretrained on Fashion-MNIST classes 0-4 unless ``pretrained=False``."""
    model = PocketCNN(num_classes=5)
    if pretrained:
        state, _ = load_pretrained("pocket_cnn")  # sha256-checked against its card
        model.load_state_dict(state)
    if num_classes != 5:
        replace_head(model, num_classes, verbose=verbose)
    return model


def load_backbone(name: str | int | None = None, num_classes: int | None = None, pretrained: bool = True,
                  profile_name: str | None = None, verbose: bool = True, device: torch.device | str = "cpu",
                  size: int | None = None) -> nn.Module:
    """A vision backbone on ``device``, by name, or the lesson's CNN for the active profile.

    ``name`` is one of :data:`BACKBONES` (an integer in its place is read as ``num_classes``); without it, the
    pocket CNN (pocket profile) or ResNet-18 ImageNet (full). ``size`` is the side the ImageNet networks resize
    their input to (default 224). With ``num_classes`` the pretrained head is replaced by a new one, which is
    reported unless ``verbose=False``. Every backbone has ``preprocess``, ``body``, ``head`` and
    ``forward_features``, so ``replace_head``, ``layer_groups`` and ``ftlab.freeze`` work on each.
    """
    if isinstance(name, int):  # load_backbone(5): the number of classes, as before backbones had names
        if num_classes is not None:
            raise TypeError("load_backbone got two numbers of classes; pass load_backbone(name, num_classes=...).")
        name, num_classes = None, name
    name = name or ("resnet18" if (profile_name or profile()) == "full" else "pocket_cnn")
    if name == "pocket_cnn":
        model = pocket_cnn(pretrained=pretrained, verbose=False)
    elif name == "resnet18":
        model = ResNetBackbone(pretrained=pretrained)
    elif name == "efficientnet_lite0":
        model = EfficientNetBackbone(pretrained=pretrained, size=size or 224)
    elif name in ("pocket_vit", "dinov2_small"):
        from ftlab import vit  # lesson 05's ViTs: transformers' Dinov2Model in this shape

        if name == "pocket_vit":
            model = vit.pocket_vit(pretrained=pretrained)
        elif not pretrained:
            raise ValueError("dinov2_small exists here only with its pretrained weights; for a ViT from scratch "
                             "use load_backbone('pocket_vit', pretrained=False).")
        else:
            model = vit.dinov2_backbone(size=size or vit.DINOV2_SIZE)
    else:
        raise ValueError(f"Unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}.")
    if size is not None and name in ("pocket_cnn", "resnet18", "pocket_vit"):
        model.preprocess.size = size
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


def layer_groups(model: nn.Module) -> list[nn.Module]:
    """The one splitter for discriminative LRs and gradual unfreezing: modules from early layers to the head.

    A vision backbone (``body`` + ``head``): early body, middle body, late body, head. A Hugging Face BERT
    classifier: embeddings, each encoder layer, pooler + classifier. An AWD-LSTM classifier: embedding,
    each LSTM, head; an AWD-LSTM language model: each LSTM, then the tied embedding + decoder.
    """
    if hasattr(model, "body") and hasattr(model, "head"):
        body = list(model.body)
        chunks = np.array_split(np.arange(len(body)), 3)  # pocket CNN: 5 layers -> 2, 2, 1
        return [nn.Sequential(*[body[i] for i in c]) for c in chunks] + [model.head]
    if hasattr(model, "base_model") and hasattr(getattr(model.base_model, "encoder", None), "layer"):
        from ftlab.hf import bert_layer_groups

        return bert_layer_groups(model)
    if hasattr(getattr(model, "encoder", None), "rnns"):
        from ftlab.awd_lstm import awd_lstm_groups

        return awd_lstm_groups(model)
    raise TypeError(f"layer_groups knows vision backbones (with .body and .head), BERT models and the AWD-LSTM "
                    f"(ftlab.awd_lstm), not {type(model).__name__}.")
