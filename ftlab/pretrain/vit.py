"""Pretrain the pocket ViT on the *source* task: Fashion-MNIST classes 0-4 on a 40x40 canvas.

The same source task and split as the pocket CNN (``ftlab.pretrain.cnn``), so that lesson 05 can
compare a pretrained ViT with a pretrained CNN on the target classes 5-9, which neither has seen.
The architecture is ``transformers.Dinov2Model`` at a pocket size (``ftlab.vit.POCKET_VIT``: 8x8
patches, 4 blocks of width 64, 4 heads), trained from random weights with a [CLS] linear head.
"""
from __future__ import annotations

from pathlib import Path

from ftlab.data import SOURCE_CLASSES
from ftlab.pretrain._source import train_on_source
from ftlab.vit import POCKET_VIT, pocket_vit

EPOCHS, BATCH, LR, WEIGHT_DECAY = 12, 128, 2e-3, 0.05


def build(steps: int | None = None, out_dir: Path | None = None, seed: int = 0) -> dict:
    """Train on the source task and write pocket_vit.safetensors + pocket_vit.json."""
    return train_on_source(
        "pocket_vit", lambda mean, std: pocket_vit(num_classes=len(SOURCE_CLASSES), pretrained=False, mean=mean, std=std),
        architecture=f"transformers.Dinov2Model {POCKET_VIT} (patch embedding, [CLS] token, learned position "
                     "embeddings, pre-norm blocks with layerscale), final LayerNorm, linear head on the [CLS] token",
        optimizer=f"AdamW lr {LR}, weight decay {WEIGHT_DECAY}, one-cycle, gradient norm clipped at 1",
        epochs=EPOCHS, batch=BATCH, lr=LR, steps=steps, out_dir=out_dir, seed=seed,
        weight_decay=WEIGHT_DECAY, max_grad_norm=1.0)
