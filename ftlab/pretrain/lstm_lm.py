"""Pretrain the pocket AWD-LSTM language model on general English: ULMFiT's stage 1.

The source text is ``ftlab.corpus.general_corpus()``: the pydoc topics and standard-library
docstrings that ship with Python, a domain far from the WordNet glosses the lessons fine-tune
on. Writes ``lstm_lm.safetensors``, its card ``lstm_lm.json`` and ``lstm_lm.vocab.json``.
"""
from __future__ import annotations

import platform
import re
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from ftlab.assets import (DATA_DIR, cache_dir, load_checkpoint, profile, read_card, resolve, save_checkpoint, sha256,
                          verify_file)
from ftlab.corpus import general_corpus
from ftlab.vocab import Vocab, tokenize
from ftlab.train import fit, seed_everything
from ftlab.awd_lstm import LanguageModel, LMConfig, lm_state, load_lm, perplexity
from ftlab.lm_data import encode_stream, lm_batches

# pocket: minutes on a laptop CPU. full: ULMFiT's own sizes (Howard & Ruder 2018) on WikiText-103,
# about one epoch; that needs a GPU for hours and is not run by CI.
SETTINGS = {
    "pocket": dict(config=LMConfig(vocab_size=8000, emb_size=128, hidden_size=256, n_layers=2),
                   steps=800, batch=32, bptt=70, lr=3e-3, min_freq=2),
    "full": dict(config=LMConfig(vocab_size=30000, emb_size=400, hidden_size=1152, n_layers=3),
                 steps=23_000, batch=64, bptt=70, lr=2e-3, min_freq=3),
}


def source_corpus(profile_name: str | None = None) -> dict[str, str]:
    """General-domain text for pretraining: Python's own prose (pocket) or WikiText-103 (full)."""
    if (profile_name or profile()) == "full":
        try:
            from datasets import load_dataset  # downloads ~300 MB once into the Hugging Face cache
        except ImportError as e:
            raise ImportError("The full profile pretrains on WikiText-103 through Hugging Face `datasets`: "
                              "pip install datasets, or use FTLAB_PROFILE=pocket.") from e

        ds = load_dataset("wikitext", "wikitext-103-raw-v1")
        return {"train": "\n".join(ds["train"]["text"]), "valid": "\n".join(ds["validation"]["text"])}
    return general_corpus()


def paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs with their line breaks and indentation collapsed."""
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def _cycle(batches: list, steps: int) -> list:
    """``steps`` batches: whole passes over ``batches`` and then a part of one."""
    return (batches * (steps // len(batches) + 1))[:steps]


def build(steps: int | None = None, out_dir: Path | None = None, seed: int = 0) -> dict:
    """Train the LM on general text; write the checkpoint, its card and the vocabulary."""
    prof = profile()
    cfg = SETTINGS[prof]
    seed_everything(seed)
    corpus = source_corpus(prof)
    vocab = Vocab.build([tokenize(corpus["train"])], max_size=cfg["config"].vocab_size, min_freq=cfg["min_freq"])
    train_ids = encode_stream(paragraphs(corpus["train"]), vocab)
    valid = lm_batches(encode_stream(paragraphs(corpus["valid"]), vocab), cfg["batch"], cfg["bptt"])
    n_steps = steps or cfg["steps"]
    model = LanguageModel(replace(cfg["config"], vocab_size=len(vocab)))
    t0 = time.perf_counter()
    hist = fit(model, _cycle(lm_batches(train_ids, cfg["batch"], cfg["bptt"]), n_steps), epochs=1,
               lr=cfg["lr"], schedule="onecycle", max_grad_norm=0.5)
    seconds = time.perf_counter() - t0
    out = Path(out_dir) if out_dir else (DATA_DIR if prof == "pocket" else cache_dir()) / "pretrained"
    vocab.save(out / "lstm_lm.vocab.json")
    card = _card(prof, model.cfg, vocab, train_ids, n_steps, seed, seconds)
    card["metrics"] = {"valid_perplexity": round(perplexity(model, valid), 2), "final_train_loss": round(hist.loss[-1], 4)}
    card["vocab_sha256"] = sha256(out / "lstm_lm.vocab.json")
    save_checkpoint(out / "lstm_lm.safetensors", lm_state(model), card)
    return {**card, "path": str(out / "lstm_lm.safetensors")}


def _card(prof: str, config: LMConfig, vocab: Vocab, train_ids: torch.Tensor, steps: int, seed: int,
          seconds: float) -> dict:
    s = SETTINGS[prof]
    data = ("ftlab.corpus.general_corpus(): Python's pydoc topics + standard-library docstrings "
            f"(Python {platform.python_version()})" if prof == "pocket" else "WikiText-103 (wikitext-103-raw-v1) train")
    return {"name": "lstm_lm", "profile": prof,
            "architecture": f"AWD-LSTM language model (Merity et al. 2018): embedding {config.emb_size}, "
                            f"{config.n_layers} LSTM layers of {config.hidden_size} (the last of {config.emb_size}), "
                            "tied input/output weights, embedding/locked/DropConnect dropout",
            "data": data + ", split into paragraphs, each ending with <eos>", "train_tokens": len(train_ids),
            "vocab": "lstm_lm.vocab.json: ftlab.vocab.tokenize (lowercase words and punctuation); the "
                     f"{config.vocab_size} most frequent tokens with count >= {s['min_freq']}",
            "vocab_size": len(vocab), "config": asdict(config), "steps": steps, "batch_size": s["batch"],
            "bptt": s["bptt"], "optimizer": f"AdamW lr {s['lr']}, one-cycle, grad-norm clip 0.5", "seed": seed,
            "params": sum(v.numel() for v in lm_state(LanguageModel(config)).values()),
            "train_seconds": round(seconds, 1), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "machine": platform.machine(), "licence": "MIT (this project)"}


def load() -> tuple[LanguageModel, Vocab, dict]:
    """The pretrained LM of the active profile, its vocabulary and card; files checked by sha256."""
    path = Path(resolve("lstm_lm", verify=False))
    card = read_card(path.with_suffix(".json"))
    state = load_checkpoint(path, card["sha256"])
    vocab_path = path.with_name("lstm_lm.vocab.json")
    verify_file(vocab_path, card["vocab_sha256"])
    return load_lm(state, LMConfig(**card["config"])), Vocab.load(vocab_path), card
