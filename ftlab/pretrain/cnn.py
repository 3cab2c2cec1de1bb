"""Pretrain the pocket CNN on the *source* task: Fashion-MNIST classes 0-4 on a 40x40 canvas.

The target classes 5-9 are never seen, so every later lesson can transfer to them honestly.
"""
from __future__ import annotations

import platform
import time
from pathlib import Path

import torch

from ftlab.assets import DATA_DIR, save_checkpoint
from ftlab.data import CANVAS, SOURCE_CLASSES, source_task
from ftlab.models import PocketCNN
from ftlab.train import evaluate, fit, seed_everything

EPOCHS, BATCH, LR = 3, 128, 3e-3


def build(steps: int | None = None, out_dir: Path | None = None, seed: int = 0) -> dict:
    """Train on the source task and write pocket_cnn.safetensors + pocket_cnn.json."""
    seed_everything(seed)
    train, test = source_task("train", seed=seed), source_task("test", seed=seed)
    mean, std = train.images.mean().item(), train.images.std().item()
    model = PocketCNN(num_classes=len(SOURCE_CLASSES), mean=round(mean, 4), std=round(std, 4))
    dl = train.loader(BATCH, shuffle=True, seed=seed)
    stop = [lambda ev, s: "stop" if steps is not None and s.step >= steps else None]
    t0 = time.perf_counter()
    hist = fit(model, dl, epochs=EPOCHS if steps is None else 1, lr=LR, callbacks=stop)
    seconds = time.perf_counter() - t0
    test_acc = evaluate(model, test.loader(512))["acc"]
    card = {"name": "pocket_cnn", "architecture": "PocketCNN: 5 x (conv3x3-BN-ReLU), max-pool after layers 2 and 4, "
                                                  "global average pool, linear head",
            "data": f"Fashion-MNIST train, classes {list(SOURCE_CLASSES)} ({', '.join(train.classes)}), "
                    f"each item placed at a seeded random position on a {CANVAS}x{CANVAS} canvas",
            "n_train": len(train), "epochs": EPOCHS if steps is None else None, "steps": len(hist.loss),
            "batch_size": BATCH, "optimizer": f"AdamW lr {LR}, one-cycle", "seed": seed,
            "input": {"channels": 1, "size": CANVAS, "range": "[0, 1]", "mean": round(mean, 4), "std": round(std, 4)},
            "metrics": {"source_test_acc": round(test_acc, 4), "final_train_loss": round(hist.loss[-1], 4)},
            "params": sum(p.numel() for p in model.parameters()), "train_seconds": round(seconds, 1),
            "torch": torch.__version__, "machine": platform.machine(), "licence": "MIT (this project)"}
    out = Path(out_dir) if out_dir else DATA_DIR / "pretrained"
    save_checkpoint(out / "pocket_cnn.safetensors", model.state_dict(), card)
    return {**card, "path": str(out / "pocket_cnn.safetensors")}
