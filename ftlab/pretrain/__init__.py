"""Builders of the pocket checkpoints: ``python -m ftlab.pretrain NAME [--steps N]``.

Each builder module has ``build(steps=None, out_dir=None, seed=0) -> dict`` that trains a
small model on its *source* task and writes ``<name>.safetensors`` plus a JSON model card
(data, steps, seed, metrics, sha256) into ``data/pretrained/``.
"""
