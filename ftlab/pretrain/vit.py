"""Pretrain the pocket ViT on the *source* task: Fashion-MNIST classes 0-4 on a 40x40 canvas.

The same source task and split as the pocket CNN (``ftlab.pretrain.cnn``), so that lesson 05 can
compare a pretrained ViT with a pretrained CNN on the target classes 5-9, which neither has seen.
The architecture is ``transformers.Dinov2Model`` at a pocket size (``ftlab.vit.POCKET_VIT``: 8x8
patches, 4 blocks of width 64, 4 heads), trained from random weights with a [CLS] linear head.
"""
from __future__ import annotations

import platform
import time
from pathlib import Path

import torch

from ftlab.assets import DATA_DIR, save_checkpoint
from ftlab.data import CANVAS, SOURCE_CLASSES, source_task
from ftlab.train import evaluate, fit, seed_everything
from ftlab.vit import POCKET_VIT, pocket_vit

EPOCHS, BATCH, LR, WEIGHT_DECAY = 12, 128, 2e-3, 0.05


def build(steps: int | None = None, out_dir: Path | None = None, seed: int = 0) -> dict:
    """Train on the source task and write pocket_vit.safetensors + pocket_vit.json."""
    seed_everything(seed)
    train, test = source_task("train", seed=seed), source_task("test", seed=seed)
    mean, std = train.images.mean().item(), train.images.std().item()
    model = pocket_vit(num_classes=len(SOURCE_CLASSES), pretrained=False, mean=round(mean, 4), std=round(std, 4))
    dl = train.loader(BATCH, shuffle=True, seed=seed)
    stop = [lambda ev, s: "stop" if steps is not None and s.step >= steps else None]
    t0 = time.perf_counter()
    hist = fit(model, dl, epochs=EPOCHS if steps is None else 1, lr=LR, weight_decay=WEIGHT_DECAY,
               max_grad_norm=1.0, callbacks=stop)
    seconds = time.perf_counter() - t0
    test_acc = evaluate(model, test.loader(512))["acc"]
    card = {"name": "pocket_vit",
            "architecture": f"transformers.Dinov2Model {POCKET_VIT} (patch embedding, [CLS] token, learned "
                            "position embeddings, pre-norm blocks with layerscale), final LayerNorm, linear head "
                            "on the [CLS] token",
            "data": f"Fashion-MNIST train, classes {list(SOURCE_CLASSES)} ({', '.join(train.classes)}), "
                    f"each item placed at a seeded random position on a {CANVAS}x{CANVAS} canvas",
            "n_train": len(train), "epochs": EPOCHS if steps is None else None, "steps": len(hist.loss),
            "batch_size": BATCH, "optimizer": f"AdamW lr {LR}, weight decay {WEIGHT_DECAY}, one-cycle, "
                                              "gradient norm clipped at 1", "seed": seed,
            "input": {"channels": 1, "size": CANVAS, "range": "[0, 1]", "mean": round(mean, 4), "std": round(std, 4)},
            "metrics": {"source_test_acc": round(test_acc, 4), "final_train_loss": round(hist.loss[-1], 4)},
            "params": sum(p.numel() for p in model.parameters()), "train_seconds": round(seconds, 1),
            "torch": torch.__version__, "machine": platform.machine(), "licence": "MIT (this project)"}
    out = Path(out_dir) if out_dir else DATA_DIR / "pretrained"
    save_checkpoint(out / "pocket_vit.safetensors", model.state_dict(), card)
    return {**card, "path": str(out / "pocket_vit.safetensors")}
