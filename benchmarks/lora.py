"""Lesson 09's comparison, longer and over seeds: full fine-tuning, head only (pooler or mean-pooled
features, a logistic regression trained to convergence with C chosen on validation, as in the lesson),
BitFit, LoRA r in {1, 4, 16} and prompt tuning on the WordNet category task.

Prints trainable parameters, peak training memory, median time per step and test accuracy
(mean +- std over seeds). Memory is given two ways: the tensor bill of one AdamW step
(``ftlab.profiling.training_memory``: weights + gradients + optimizer state + measured saved
activations) and what was measured while training: the rise of resident memory (CPU; each
run in a fresh process so freed memory is not reused) or ``torch.cuda.max_memory_allocated``.
Printed figures only; no test asserts them. Choose learning rates (``--lr``) and the alpha rule
(``--alpha``) on the **valid acc** column, which comes from the category task's validation split;
the test column is for reporting the choice once.

    python benchmarks/lora.py                                   # the notebook's settings, 1 seed
    python benchmarks/lora.py --per-class 300 --epochs 5 --seeds 0 1 2
    python benchmarks/lora.py --methods full lora_r4 --threads 2
    python benchmarks/lora.py --methods lora_r16 --lr lora=1e-3       # another learning rate
    python benchmarks/lora.py --methods lora_r1 lora_r4 lora_r16 --alpha 4r --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

METHODS = ["full", "head_only", "head_mean", "bitfit", "lora_r1", "lora_r4", "lora_r16", "prompt"]
LR = {"full": 1e-4, "bitfit": 3e-3, "lora": 3e-3, "prompt": 3e-2}
TARGETS = ["query", "key", "value", "dense"]


ALPHA = {"fixed": lambda r: 16.0, "4r": lambda r: 4.0 * r, "rslora": lambda r: 16.0 * r ** 0.5}  # scale = alpha / r


def build(method: str, num_labels: int, seed: int, alpha_rule: str = "fixed"):
    """The pretrained BERT with a new head, prepared for ``method``; returns (model, lr)."""
    from ftlab.freeze import freeze
    from ftlab.hf import load_bert_classifier
    from ftlab.lora import inject_lora, mark_only_lora_trainable
    from ftlab.train import seed_everything

    seed_everything(seed)
    model = load_bert_classifier(num_labels, verbose=False)
    if method == "full":
        return model, LR["full"]
    if method in ("head_only", "head_mean"):
        freeze(model.base_model)
        return model, None   # no learning rate: the head is a logistic regression on cached features
    if method == "bitfit":
        for name, p in model.named_parameters():
            p.requires_grad = name.endswith(".bias") or name.startswith("classifier")
        return model, LR["bitfit"]
    if method.startswith("lora_r"):
        r = int(method.removeprefix("lora_r"))
        # "rslora": alpha = 16 sqrt(r), so alpha / r = 16 / sqrt(r) (Kalajdzievski 2023)
        inject_lora(model, TARGETS, r=r, alpha=ALPHA[alpha_rule](r))
        mark_only_lora_trainable(model, extra=["classifier"])
        return model, LR["lora"]
    if method in ("prompt", "prefix"):
        from peft import PrefixTuningConfig, PromptTuningConfig, get_peft_model

        cls = PromptTuningConfig if method == "prompt" else PrefixTuningConfig
        return get_peft_model(model, cls(task_type="SEQ_CLS", num_virtual_tokens=20)), LR["prompt"]
    raise ValueError(f"unknown method {method!r}; choose from {METHODS + ['prefix']} or lora_r<N>")


def run_one(method: str, seed: int, args: argparse.Namespace) -> dict:
    """Train one method with one seed in this process and measure it."""
    import torch

    from ftlab.hf import load_tokenizer, make_loader
    from ftlab.lora import count_trainable
    from ftlab.profiling import MB, StepTimer, cuda_peak_mb, peak_rss_delta_mb, training_memory
    from ftlab.wordnet import load_category_task
    from ftlab.train import evaluate, fit, seed_everything

    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    task = load_category_task(per_class=args.per_class, seed=0)
    tok = load_tokenizer()
    train_dl = lambda: make_loader(tok, task.train.texts, task.train.labels, batch_size=args.batch_size,
                                   shuffle=True, max_length=args.max_length, seed=seed)
    valid_dl = make_loader(tok, task.valid.texts, task.valid.labels, batch_size=64, max_length=args.max_length)
    test_dl = make_loader(tok, task.test.texts, task.test.labels, batch_size=64, max_length=args.max_length)
    model, lr = build(method, len(task.classes), seed, args.alpha)
    model.to(device)
    bill = training_memory(model, next(iter(train_dl())))
    timer = StepTimer()
    seed_everything(seed)
    out = {}   # params, step_s, valid, acc
    if lr is None:   # head only: features once, then a converged logistic regression (tested inside)
        readout = "pooler" if method == "head_only" else "mean"
        train = lambda: out.update(frozen_head(model, tok, task, readout, args))
    else:
        train = lambda: fit(model, train_dl(), epochs=args.epochs, lr=lr, callbacks=[timer],
                            progress=False, device=device)
    _, measured = cuda_peak_mb(train) if device == "cuda" else peak_rss_delta_mb(train)
    if lr is not None:
        out = {"params": count_trainable(model)[0], "step_s": timer.median(),
               "valid": evaluate(model, valid_dl)["acc"], "acc": evaluate(model, test_dl)["acc"]}
    return {"method": method, "seed": seed, **out, "bill_mb": bill.total / MB, "measured_mb": measured,
            "device": device}


def frozen_head(model, tok, task, readout: str, args: argparse.Namespace) -> dict:
    """Head only, as lesson 09 trains it: one forward pass per gloss, then a logistic regression run
    to convergence on the frozen features, C chosen on the validation split, tested once."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ftlab.hf import sentence_features

    t0 = time.perf_counter()
    feats = {s: sentence_features(model, tok, getattr(task, s).texts, (readout,), batch_size=args.batch_size,
                                  max_length=args.max_length, progress=False)[readout]
             for s in ("train", "valid", "test")}
    n_batches = sum(-(-len(getattr(task, s)) // args.batch_size) for s in ("train", "valid", "test"))
    step_s = (time.perf_counter() - t0) / n_batches
    y = {s: np.array(getattr(task, s).labels) for s in ("train", "valid", "test")}
    fits = {C: make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000)).fit(feats["train"], y["train"])
            for C in (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 10.0)}
    valid = {C: clf.score(feats["valid"], y["valid"]) for C, clf in fits.items()}
    best = fits[max(valid, key=valid.get)]
    head = best[-1]
    return {"params": int(head.coef_.size + head.intercept_.size), "step_s": step_s, "valid": max(valid.values()),
            "acc": float(best.score(feats["test"], y["test"]))}


def run_isolated(method: str, seed: int, argv: list[str]) -> dict:
    """Run one method in a fresh Python process, so its memory reading starts from a clean slate."""
    out = subprocess.run([sys.executable, __file__, *argv, "--worker", method, str(seed)],
                         capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if out.returncode != 0:
        raise RuntimeError(f"{method} (seed {seed}) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def spread(values: list[float]) -> str:
    """Mean +- std over seeds; one seed has no spread to show."""
    if len(values) == 1:
        return f"{values[0]:>7.3f} (1 seed)"
    return f"{np.mean(values):>7.3f} +- {np.std(values, ddof=1):.3f}"


def table(rows: list[dict], n_base: int | None) -> str:
    """Mean +- std over seeds, one line per method."""
    kind = "cuda peak" if rows and rows[0]["device"] == "cuda" else "RSS rise"
    lines = [f"{'method':<10} {'trainable':>11} {'% model':>8} {'bill MB':>8} {kind + ' MB':>13} "
             f"{'s/step':>7} {'valid acc':>15} {'test acc':>15} seeds"]
    for method in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == method]
        mean = lambda key: float(np.mean([r[key] for r in rs]))
        accs, valids = [r["acc"] for r in rs], [r.get("valid", float("nan")) for r in rs]
        pct = f"{mean('params') / n_base:8.2%}" if n_base else f"{'':8}"
        lines.append(f"{method:<10} {rs[0]['params']:>11,} {pct} {mean('bill_mb'):>8.0f} "
                     f"{mean('measured_mb'):>13.0f} {mean('step_s'):>7.3f} "
                     f"{spread(valids)} {spread(accs)} "
                     f"{len(rs)}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=METHODS)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--per-class", type=int, default=150, help="training glosses per class")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--lr", nargs="+", default=[], metavar="KIND=LR",
                    help=f"override learning rates, e.g. lora=1e-3 (kinds: {', '.join(LR)})")
    ap.add_argument("--alpha", choices=list(ALPHA), default="fixed",
                    help="LoRA alpha per rank: fixed 16 (Hu et al.), 4r (same scale for every rank), rslora")
    ap.add_argument("--json", help="also write every run's figures to this file")
    ap.add_argument("--worker", nargs=2, metavar=("METHOD", "SEED"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    for item in args.lr:
        kind, _, value = item.partition("=")
        if kind not in LR or not value:
            ap.error(f"--lr takes KIND=LR with KIND in {list(LR)}, not {item!r}")
        LR[kind] = float(value)
    if args.worker:
        print(json.dumps(run_one(args.worker[0], int(args.worker[1]), args)))
        return
    argv = [a for a in sys.argv[1:]]
    rows = []
    for seed in args.seeds:
        for method in args.methods:
            t0 = time.perf_counter()
            rows.append(run_isolated(method, seed, argv))
            print(f"  {method} seed {seed}: acc {rows[-1]['acc']:.3f}, "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    full = [r for r in rows if r["method"] == "full"]
    print(f"category task, {args.per_class}/class, {args.epochs} epochs, batch {args.batch_size}, "
          f"max {args.max_length} tokens, seeds {args.seeds}, learning rates {LR}")
    print(table(rows, full[0]["params"] if full else None))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
