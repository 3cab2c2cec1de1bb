"""Batches of token ids for word-level models: contiguous BPTT streams for a language model, padded
(ids, label) batches for a classifier.

Language-model batches follow the AWD-LSTM's training (Merity et al. 2018): the text is one long
stream cut into ``batch_size`` parallel rows, so row b of batch k+1 continues row b of batch k and the
hidden state can be carried over (truncated back-propagation through time, ``bptt`` steps).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch.utils.data import DataLoader

from ftlab.vocab import Vocab, pad_ids


def encode_stream(texts: str | Iterable[str], vocab: Vocab) -> torch.Tensor:
    """One long tensor of token ids; each line (or text) ends with ``<eos>``."""
    texts = texts.splitlines() if isinstance(texts, str) else texts
    ids: list[int] = []
    for line in texts:
        if line.strip():
            ids.extend(vocab.encode(line))
            ids.append(vocab.eos_id)
    return torch.tensor(ids, dtype=torch.long)


def lm_batches(ids: torch.Tensor, batch_size: int = 32, bptt: int = 70) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Contiguous (x, y) chunks: row b of batch k+1 continues row b of batch k; y is x shifted by one."""
    n = (len(ids) - 1) // batch_size
    if n < 2:
        raise ValueError(f"{len(ids)} tokens are too few for batch_size={batch_size}; "
                         "use more text or a smaller batch size.")
    x = ids[: n * batch_size].view(batch_size, n)  # (B, N): B parallel streams
    y = ids[1: n * batch_size + 1].view(batch_size, n)
    return [(x[:, i:i + bptt], y[:, i:i + bptt]) for i in range(0, n - 1, bptt)]


def pad_collate(pad_id: int, max_len: int = 64) -> Callable:
    """A ``collate_fn`` that right-pads lists of token ids into a (B, T) tensor."""
    def collate(items: list[tuple[list[int], int]]) -> tuple[torch.Tensor, torch.Tensor]:
        return pad_ids([ids for ids, _ in items], pad_id, max_len), torch.tensor([y for _, y in items])
    return collate


def text_loader(texts: Sequence[str], labels: Sequence[int], vocab: Vocab, batch_size: int = 32,
                shuffle: bool = False, seed: int = 0) -> DataLoader:
    """A DataLoader of (padded ids (B, T), labels (B,)) for a text classification split."""
    items = [(vocab.encode(t), int(y)) for t, y in zip(texts, labels)]
    gen = torch.Generator().manual_seed(seed)
    # when shuffling (training), drop a ragged last batch: BatchNorm cannot train on one example
    return DataLoader(items, batch_size=batch_size, shuffle=shuffle, generator=gen,
                      drop_last=shuffle and len(items) > batch_size, collate_fn=pad_collate(vocab.pad_id))
