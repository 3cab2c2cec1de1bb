"""A bag-of-words student for knowledge distillation (Hinton, Vinyals & Dean 2015).

The student is the fastText-style classifier of Joulin et al. (2017): the mean of a vector per word,
then a small MLP; no attention, no word order, no pretraining. Tang et al. (2019) distil a fine-tuned
BERT into a model of this kind. Lessons 10 and 13 train it on a teacher's softened logits with
:func:`distill_loss`; lesson 10 asks you to write that loss yourself.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ftlab.data import step_loader
from ftlab.vocab import Vocab, pad_ids, tokenize
from ftlab.train import fit


class BagOfWords(nn.Module):
    """Mean of ``dim``-dimensional word vectors (padding skipped), then Linear-ReLU-Linear to class logits."""

    def __init__(self, vocab_size: int, num_classes: int, dim: int = 64, hidden: int = 64, pad_id: int = 0):
        super().__init__()
        self.embed = nn.EmbeddingBag(vocab_size, dim, mode="mean", padding_idx=pad_id)  # mean of word vectors
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B, T) word ids -> (B, num_classes) logits
        return self.mlp(self.embed(ids))


def build_vocab(texts: Sequence[str]) -> Vocab:
    """Every lower-cased word of ``texts`` (no labels needed), most frequent first."""
    return Vocab.build(tokenize(t) for t in texts)


def encode_words(texts: Sequence[str], vocab: Vocab, known: Collection[str] | None = None,
                 max_words: int = 40) -> torch.Tensor:
    """(N, T) word ids right-padded with ``<pad>``; words outside ``vocab`` (or outside ``known``) -> ``<unk>``."""
    words = [[w if known is None or w in known else Vocab.UNK for w in tokenize(t)] for t in texts]
    return pad_ids([vocab.encode(ws) for ws in words], vocab.pad_id, max_words)


def distill_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float = 4.0) -> torch.Tensor:
    """T^2 * KL(teacher || student) between the softened distributions, averaged over the batch."""
    log_q = F.log_softmax(student_logits / T, dim=-1)
    log_p = F.log_softmax(teacher_logits / T, dim=-1)
    return T * T * (log_p.exp() * (log_p - log_q)).sum(-1).mean()


def train_student(model: nn.Module, tensors: Sequence[torch.Tensor], loss_fn: Callable | None = None, *,
                  steps: int = 400, batch_size: int = 64, lr: float = 3e-2, seed: int = 0,
                  device: torch.device | str | None = None) -> nn.Module:
    """Train ``model`` on ``steps`` batches of rows of ``tensors`` (ids, targets...) drawn with ``seed``; return it in eval mode.

    Args:
        loss_fn: ``loss_fn(logits, targets)``, e.g. a distillation loss on teacher logits; default cross-entropy.
        steps, batch_size, lr: AdamW with one-cycle, as :func:`ftlab.train.fit` runs it.
    """
    fit(model, step_loader(*tensors, steps=steps, batch_size=batch_size, seed=seed), 1, lr,
        loss_fn=loss_fn, progress=False, device=device)
    return model.eval()
