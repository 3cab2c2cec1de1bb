"""The training run and model card that every source-task builder shares (pocket CNN, pocket ViT)."""
from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ftlab.assets import DATA_DIR, save_checkpoint
from ftlab.data import CANVAS, SOURCE_CLASSES, source_task
from ftlab.train import evaluate, fit, seed_everything


def train_on_source(name: str, make_model: Callable[[float, float], nn.Module], *, architecture: str,
                    optimizer: str, epochs: int, batch: int, lr: float, steps: int | None, out_dir: Path | None,
                    seed: int, **fit_kwargs) -> dict:
    """Train ``make_model(mean, std)`` on Fashion-MNIST classes 0-4 on the canvas; write ``<name>.safetensors``
    with its card (data, steps, seed, input statistics, source-test accuracy, ...) and return the card."""
    seed_everything(seed)
    train, test = source_task("train", seed=seed), source_task("test", seed=seed)
    mean, std = train.images.mean().item(), train.images.std().item()
    model = make_model(round(mean, 4), round(std, 4))
    dl = train.loader(batch, shuffle=True, seed=seed)
    stop = [lambda ev, s: "stop" if steps is not None and s.step >= steps else None]
    t0 = time.perf_counter()
    hist = fit(model, dl, epochs=epochs if steps is None else 1, lr=lr, callbacks=stop, **fit_kwargs)
    seconds = time.perf_counter() - t0
    test_acc = evaluate(model, test.loader(512))["acc"]
    card = {"name": name, "architecture": architecture,
            "data": f"Fashion-MNIST train, classes {list(SOURCE_CLASSES)} ({', '.join(train.classes)}), "
                    f"each item placed at a seeded random position on a {CANVAS}x{CANVAS} canvas",
            "n_train": len(train), "epochs": epochs if steps is None else None, "steps": len(hist.loss),
            "batch_size": batch, "optimizer": optimizer, "seed": seed,
            "input": {"channels": 1, "size": CANVAS, "range": "[0, 1]", "mean": round(mean, 4), "std": round(std, 4)},
            "metrics": {"source_test_acc": round(test_acc, 4), "final_train_loss": round(hist.loss[-1], 4)},
            "params": sum(p.numel() for p in model.parameters()), "train_seconds": round(seconds, 1),
            "torch": torch.__version__, "machine": platform.machine(), "licence": "MIT (this project)"}
    out = Path(out_dir) if out_dir else DATA_DIR / "pretrained"
    save_checkpoint(out / f"{name}.safetensors", model.state_dict(), card)
    return {**card, "path": str(out / f"{name}.safetensors")}
