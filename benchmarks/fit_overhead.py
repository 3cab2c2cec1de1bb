"""How much slower is ``ftlab.fit`` than a bare PyTorch loop on the same model and data?

Target (issue: foundation): at most 3 % slower. Both loops use AdamW + one-cycle on the
pocket CNN architecture and the same batches; runs alternate (bare, fit, bare, fit, ...) so
that machine load hits both alike, and the median of each is compared.

    python benchmarks/fit_overhead.py [--repeats 5] [--steps 60] [--threads 2]
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from ftlab.data import target_task
from ftlab.models import PocketCNN
from ftlab.train import fit


def bare_loop(model, batches, lr):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=len(batches), pct_start=0.25,
                                                cycle_momentum=False)
    model.train()
    for x, y in batches:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = target_task("train", limit=args.steps * args.batch)
    batches = list(data.loader(args.batch, shuffle=True))
    bare, ours = [], []
    for r in range(args.repeats + 1):  # the first pair warms up allocator and kernels
        torch.manual_seed(r)
        t_bare = timed(lambda: bare_loop(PocketCNN(), batches, 3e-3))
        torch.manual_seed(r)
        t_fit = timed(lambda: fit(PocketCNN(), batches, epochs=1, lr=3e-3, progress=True))
        if r:
            bare.append(t_bare)
            ours.append(t_fit)
    mb, mf = statistics.median(bare), statistics.median(ours)
    print(f"pocket CNN, {len(batches)} steps of batch {args.batch} at 40x40, {args.threads} threads, "
          f"median of {args.repeats}")
    print(f"{'loop':<14}{'seconds':>9}{'s/step':>9}")
    print(f"{'bare PyTorch':<14}{mb:>9.2f}{mb / len(batches):>9.4f}")
    print(f"{'ftlab.fit':<14}{mf:>9.2f}{mf / len(batches):>9.4f}")
    print(f"overhead: {100 * (mf / mb - 1):+.1f} %  (target <= +3 %)")


if __name__ == "__main__":
    main()
