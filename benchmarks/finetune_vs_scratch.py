"""Lesson 02's question at one k: how far does fine-tuning the pocket CNN beat the same network from scratch?

Prints mean +- std accuracy over draws of the k labelled images per class, for full fine-tuning and
scratch at several learning rates, with lesson 02's step budget (same steps and batch size for every run).
The learning rate of each method is chosen on a validation split carved from the training pool (1,000
images, never used for training); the test accuracy is then read once, for the chosen rate only.
Figures are printed, never asserted.

    python benchmarks/finetune_vs_scratch.py --k 20
    python benchmarks/finetune_vs_scratch.py --k 5 20 --lrs 1e-3 3e-3 --checkpoint my_source_cnn.safetensors
"""
import argparse

import numpy as np
import torch

from ftlab.assets import load_checkpoint
from ftlab.data import few_shot, train_valid_split, vision_target_task
from ftlab.models import load_backbone, replace_head
from ftlab.train import evaluate, fit, seed_everything

BUDGET = {5: (60, 25), 20: (80, 50), 100: (60, 64)}  # k -> (optimizer steps, batch size), as in lesson 02


def run(train_set, k: int, seed: int, lr: float, pretrained: bool, checkpoint: str | None):
    """One trained model (the caller scores it on validation, and the chosen ones on test)."""
    seed_everything(seed)
    ds = train_set.subset(few_shot(train_set.labels, k, seed=seed))
    model = load_backbone(pretrained=pretrained)
    if pretrained and checkpoint:
        model.load_state_dict(load_checkpoint(checkpoint))
    replace_head(model, len(train_set.classes), verbose=False)
    fit(model, ds.step_loader(*BUDGET[k], seed), 1, lr, progress=False)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", nargs="+", type=int, default=[20], choices=sorted(BUDGET))
    ap.add_argument("--lrs", nargs="+", type=float, default=[1e-3, 3e-3, 1e-2])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--checkpoint", help="a source-task PocketCNN state dict (safetensors) instead of the pocket one")
    args = ap.parse_args()
    pool = vision_target_task("train")
    train_idx, valid_idx = train_valid_split(len(pool), valid_frac=1000 / len(pool), seed=0)
    train_set, valid_dl = pool.subset(train_idx), pool.subset(valid_idx).loader(500)
    test_dl = vision_target_task("test", limit=1000).loader(500)  # lesson 02's fixed test subset
    for k in args.k:
        for method in ("finetune", "scratch"):
            valid, models = {}, {}
            for lr in args.lrs:
                models[lr] = [run(train_set, k, s, lr, method == "finetune", args.checkpoint) for s in args.seeds]
                valid[lr] = [evaluate(m, valid_dl)["acc"] for m in models[lr]]
                print(f"k={k:<3} {method:8s} lr {lr:.0e}: valid {np.mean(valid[lr]):.3f} +- {np.std(valid[lr]):.3f} "
                      f"{np.round(valid[lr], 3).tolist()}", flush=True)
            best = max(valid, key=lambda lr: np.mean(valid[lr]))
            test = [evaluate(m, test_dl)["acc"] for m in models[best]]  # the test split: the chosen models only
            print(f"k={k:<3} {method:8s} chosen lr {best:.0e} (on valid): test {np.mean(test):.3f} +- "
                  f"{np.std(test):.3f} {np.round(test, 3).tolist()}", flush=True)


if __name__ == "__main__":
    main()
