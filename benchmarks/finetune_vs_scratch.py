"""Lesson 02's question at one k: how far does fine-tuning the pocket CNN beat the same network from scratch?

Prints mean +- std test accuracy over draws of the k labelled images per class, for full fine-tuning and
scratch at several learning rates, with lesson 02's step budget (same steps and batch size for every run).
Figures are printed, never asserted.

    python benchmarks/finetune_vs_scratch.py --k 20
    python benchmarks/finetune_vs_scratch.py --k 5 20 --lrs 1e-3 3e-3 --checkpoint my_source_cnn.safetensors
"""
import argparse

import numpy as np
import torch

from ftlab.assets import load_checkpoint
from ftlab.data import few_shot, vision_target_task
from ftlab.models import load_backbone, replace_head
from ftlab.train import evaluate, fit, seed_everything

BUDGET = {5: (60, 25), 20: (80, 50), 100: (60, 64)}  # k -> (optimizer steps, batch size), as in lesson 02


def run(train_set, test_dl, k: int, seed: int, lr: float, pretrained: bool, checkpoint: str | None) -> float:
    seed_everything(seed)
    ds = train_set.subset(few_shot(train_set.labels, k, seed=seed))
    model = load_backbone(pretrained=pretrained)
    if pretrained and checkpoint:
        model.load_state_dict(load_checkpoint(checkpoint))
    replace_head(model, len(train_set.classes), verbose=False)
    fit(model, ds.step_loader(*BUDGET[k], seed), 1, lr, progress=False)
    return evaluate(model, test_dl)["acc"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", nargs="+", type=int, default=[20], choices=sorted(BUDGET))
    ap.add_argument("--lrs", nargs="+", type=float, default=[1e-3, 3e-3, 1e-2])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--checkpoint", help="a source-task PocketCNN state dict (safetensors) instead of the pocket one")
    args = ap.parse_args()
    train_set = vision_target_task("train")
    test_dl = vision_target_task("test", limit=1000).loader(500)  # lesson 02's fixed test subset
    for k in args.k:
        for method in ("finetune", "scratch"):
            for lr in args.lrs:
                accs = [run(train_set, test_dl, k, s, lr, method == "finetune", args.checkpoint) for s in args.seeds]
                print(f"k={k:<3} {method:8s} lr {lr:.0e}: {np.mean(accs):.3f} +- {np.std(accs):.3f} "
                      f"{np.round(accs, 3).tolist()}", flush=True)


if __name__ == "__main__":
    main()
