"""Pretrain the pocket CNN on the *source* task: Fashion-MNIST classes 0-4 on a 40x40 canvas.

The target classes 5-9 are never seen, so every later lesson can transfer to them honestly.
"""
from __future__ import annotations

from pathlib import Path

from ftlab.data import SOURCE_CLASSES
from ftlab.models import PocketCNN
from ftlab.pretrain._source import train_on_source

EPOCHS, BATCH, LR = 3, 128, 3e-3


def build(steps: int | None = None, out_dir: Path | None = None, seed: int = 0) -> dict:
    """Train on the source task and write pocket_cnn.safetensors + pocket_cnn.json."""
    return train_on_source(
        "pocket_cnn", lambda mean, std: PocketCNN(num_classes=len(SOURCE_CLASSES), mean=mean, std=std),
        architecture="PocketCNN: 5 x (conv3x3-BN-ReLU), max-pool after layers 2 and 4, global average pool, linear head",
        optimizer=f"AdamW lr {LR}, one-cycle", epochs=EPOCHS, batch=BATCH, lr=LR, steps=steps, out_dir=out_dir, seed=seed)
