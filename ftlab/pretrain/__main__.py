"""Command line: ``python -m ftlab.pretrain NAME [--steps N] [--out DIR] [--seed S]``."""
import argparse
import importlib
import json
import pkgutil
from pathlib import Path

import ftlab.pretrain as pkg


def main() -> None:
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))
    ap = argparse.ArgumentParser(prog="python -m ftlab.pretrain", description=__doc__)
    ap.add_argument("name", choices=names, help="which pocket checkpoint to build")
    ap.add_argument("--steps", type=int, default=None, help="stop after N optimizer steps (smoke test)")
    ap.add_argument("--out", type=Path, default=None, help="folder to write into (default data/pretrained)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    builder = importlib.import_module(f"ftlab.pretrain.{args.name}")
    card = builder.build(steps=args.steps, out_dir=args.out, seed=args.seed)
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
