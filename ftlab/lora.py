"""LoRA from scratch, with state dicts that peft can read.

Follows Hu et al. 2022, "LoRA: Low-Rank Adaptation of Large Language Models"
(https://arxiv.org/abs/2106.09685): a frozen weight W (out, in) gets a trainable low-rank
update, so a layer computes ``W x + (alpha / r) * B A x`` with A (r, in) and B (out, r).
B starts at zero, so a fresh adapter leaves the model's output unchanged.

The layout copies huggingface/peft's ``tuners/lora/layer.py`` where that is cheap: the
wrapped layer is ``base_layer``, the adapters are ``lora_A`` and ``lora_B``, and
``scaling = alpha / r``. One difference: peft keeps every adapter in a ``ModuleDict`` keyed
by adapter name (``lora_A['default']``); here there is a single adapter, so ``lora_A`` is a
plain ``nn.Linear``. :func:`to_peft_state_dict` / :func:`from_peft_state_dict` convert
between this layout and the one ``peft.get_peft_model_state_dict`` returns.
"""
from __future__ import annotations

import math
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from torch import Tensor, nn

from ftlab.assets import load_checkpoint, read_card, save_checkpoint
from ftlab.freeze import count_params

PEFT_PREFIX = "base_model.model."  # what PeftModel puts before the wrapped model's names


class LoRALinear(nn.Module):
    """An ``nn.Linear`` plus a trainable low-rank update ``(alpha / r) * B @ A``."""

    def __init__(self, base_layer: nn.Linear, r: int = 8, alpha: float = 16, dropout: float = 0.0):
        super().__init__()
        if r <= 0:
            raise ValueError(f"LoRA rank r must be a positive integer, got r={r}.")
        self.base_layer = base_layer
        self.r, self.alpha, self.scaling = r, alpha, alpha / r
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        w = base_layer.weight
        self.lora_A = nn.Linear(base_layer.in_features, r, bias=False, device=w.device, dtype=w.dtype)
        self.lora_B = nn.Linear(r, base_layer.out_features, bias=False, device=w.device, dtype=w.dtype)
        self.merged = False   # True while B @ A * scaling is folded into base_layer.weight
        self.enabled = True   # False serves the base model alone
        self.reset_lora_parameters()

    def reset_lora_parameters(self) -> None:
        """A as nn.Linear's default init, B zero: the update B @ A starts at exactly zero."""
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))  # what peft and loralib do
        nn.init.zeros_(self.lora_B.weight)

    def delta_weight(self) -> Tensor:
        """The update to the base weight, ``B @ A * scaling``, shape (out, in)."""
        return (self.lora_B.weight @ self.lora_A.weight) * self.scaling  # (out, r) @ (r, in)

    def forward(self, x: Tensor) -> Tensor:
        """``base(x) + B(A(dropout(x))) * scaling``; only the base once merged or disabled."""
        result = self.base_layer(x)  # (..., out)
        if self.merged or not self.enabled:
            return result
        # same order of operations as peft, so the two agree to the last bit
        return result + self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into the base weight: one matmul per call again, no extra latency."""
        if not self.merged:
            self.base_layer.weight += self.delta_weight()
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take the update back out of the base weight (to train or swap adapters again)."""
        if self.merged:
            self.base_layer.weight -= self.delta_weight()
            self.merged = False

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, merged={self.merged}, enabled={self.enabled}"


def _matches(name: str, target_modules: list[str] | str) -> bool:
    """peft's rule: a string is a regex on the full name; a list entry matches the name or its tail."""
    if isinstance(target_modules, str):
        return re.fullmatch(target_modules, name) is not None
    return any(name == t or name.endswith("." + t) for t in target_modules)


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """Every LoRALinear in ``model``, by qualified name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent), child, new)


def inject_lora(model: nn.Module, target_modules: list[str] | str, r: int = 8,
                alpha: float = 16, dropout: float = 0.0) -> list[str]:
    """Wrap every nn.Linear whose name matches ``target_modules`` in a LoRALinear; return the names."""
    inside = tuple(n + "." for n in lora_layers(model))  # never wrap a LoRALinear's own parts
    # exact type: subclasses such as MultiheadAttention's out_proj are read as raw weights
    linears = [n for n, m in model.named_modules()
               if type(m) is nn.Linear and n and not n.startswith(inside)]
    names = [n for n in linears if _matches(n, target_modules)]
    if not names:
        hint = " A string is a regular expression that must match the whole name." \
            if isinstance(target_modules, str) else ""
        raise ValueError(f"No nn.Linear in {type(model).__name__} matches target_modules="
                         f"{target_modules!r}.{hint} Linear layers include: {linears[:8]}"
                         f"{' ...' if len(linears) > 8 else ''}. A target matches a name that "
                         "equals it or ends with '.' + target, e.g. 'query'.")
    for n in names:
        _replace(model, n, LoRALinear(model.get_submodule(n), r=r, alpha=alpha, dropout=dropout))
    return names


def mark_only_lora_trainable(model: nn.Module, bias: str = "none", extra: list[str] = ()) -> None:
    """Freeze everything but lora_A/lora_B (and biases per ``bias``, and names containing ``extra``)."""
    if bias not in ("none", "all", "lora_only"):
        raise ValueError(f"bias must be 'none', 'all' or 'lora_only', got {bias!r}.")
    lora_biases = {f"{n}.base_layer.bias" for n in lora_layers(model)}
    for name, p in model.named_parameters():
        parts = name.split(".")
        p.requires_grad = ("lora_A" in parts or "lora_B" in parts
                           or any(e in name for e in extra)
                           or (bias == "all" and parts[-1] == "bias")
                           or (bias == "lora_only" and name in lora_biases))


def merge_lora(model: nn.Module) -> nn.Module:
    """Merge every adapter into its base weight (outputs unchanged, adapters kept)."""
    for layer in lora_layers(model).values():
        layer.merge()
    return model


def unmerge_lora(model: nn.Module) -> nn.Module:
    """Undo :func:`merge_lora`."""
    for layer in lora_layers(model).values():
        layer.unmerge()
    return model


def unload_lora(model: nn.Module) -> nn.Module:
    """Merge and put plain nn.Linear layers back: a model to deploy, with no trace of LoRA."""
    for name, layer in lora_layers(model).items():
        layer.merge()
        if name:
            _replace(model, name, layer.base_layer)
        else:
            model = layer.base_layer  # the model was a single wrapped layer
    return model


@contextmanager
def disable_adapter(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block the model computes its base outputs (merged adapters are taken out)."""
    layers = list(lora_layers(model).values())
    was_merged = [layer.merged for layer in layers]
    for layer in layers:
        layer.unmerge()
        layer.enabled = False
    try:
        yield model
    finally:
        for layer, merged in zip(layers, was_merged):
            layer.enabled = True
            if merged:
                layer.merge()


def lora_state_dict(model: nn.Module, extra: list[str] = ()) -> dict[str, Tensor]:
    """The adapter weights only (plus any tensor whose name contains one of ``extra``)."""
    return {k: v for k, v in model.state_dict().items()
            if {"lora_A", "lora_B"} & set(k.split(".")) or any(e in k for e in extra)}


def count_trainable(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) number of parameters."""
    return count_params(model), count_params(model, trainable_only=False)


def _card(model: nn.Module) -> dict:
    layers = lora_layers(model)
    if not layers:
        raise ValueError("The model has no LoRA layers: call inject_lora(model, target_modules) first.")
    first = next(iter(layers.values()))
    return {"kind": "lora", "r": first.r, "alpha": first.alpha,
            "dropout": getattr(first.lora_dropout, "p", 0.0),
            "target_modules": sorted({n.rpartition(".")[2] for n in layers}),
            "modules": list(layers)}


def save_lora(model: nn.Module, path: str | Path, extra: list[str] = ()) -> str:
    """Write the adapter as safetensors (atomically) plus a JSON card with its sha256; return it."""
    return save_checkpoint(path, lora_state_dict(model, extra), card=_card(model))


def load_lora(model: nn.Module, path: str | Path) -> nn.Module:
    """Load an adapter saved by :func:`save_lora`, refusing a file whose sha256 differs from its card."""
    path = Path(path)
    card = read_card(path.with_suffix(".json"))  # no card, no checksum: refuse
    sd = load_checkpoint(path, card["sha256"])   # raises ChecksumError on a changed file
    if not lora_layers(model):  # a bare base model: wrap the layers the card names
        inject_lora(model, card["modules"], r=card["r"], alpha=card["alpha"], dropout=card["dropout"])
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if {"lora_A", "lora_B"} & set(k.split("."))]
    if missing or unexpected:
        raise ValueError(f"Adapter {path} does not fit this model: missing {missing[:4]}, "
                         f"unexpected {unexpected[:4]}. Was it saved from the same architecture "
                         f"and target_modules ({card['target_modules']})?")
    return model


def to_peft_state_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """This module's keys -> peft's saved adapter keys (``base_model.model.<path>.lora_A.weight``)."""
    return {PEFT_PREFIX + k: v for k, v in sd.items()}


# peft's live modules name the adapter (lora_A.default.weight); its saved files do not
_ADAPTER_NAME = re.compile(r"\.(lora_A|lora_B)\.[^.]+\.(weight|bias)$")
_SAVED_COPY = re.compile(r"\.modules_to_save\.[^.]+\.")  # classifier.modules_to_save.default.weight


def from_peft_state_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """peft's adapter keys (saved, or live ``PeftModel.state_dict()``) -> this module's keys."""
    out = {}
    for k, v in sd.items():
        if ".original_module." in k:  # peft's frozen copy of a modules_to_save layer
            continue
        k = _SAVED_COPY.sub(".", k.removeprefix(PEFT_PREFIX))
        out[_ADAPTER_NAME.sub(r".\1.\2", k)] = v
    return out
