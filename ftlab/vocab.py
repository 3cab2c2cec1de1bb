"""Word-level tokens and vocabulary: the tokeniser, ``Vocab`` (word <-> id) and padding of id lists.

The word-level scheme of ULMFiT-era models (Howard & Ruder 2018; fastai's ``Numericalize``): lowercase
words and single punctuation marks, a frequency-ranked vocabulary with ``<pad>``, ``<unk>``, ``<eos>``
first, and unknown words mapped to ``<unk>``.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path


_TOKEN = re.compile(r"\w+|[^\w\s]")  # a run of letters/digits, or one punctuation mark


def tokenize(text: str) -> list[str]:
    """Lowercase word-level tokens: ``"A dog's life."`` -> ``['a', 'dog', "'", 's', 'life', '.']``."""
    return _TOKEN.findall(text.lower())


def pad_ids(seqs: Sequence[Sequence[int]], pad_id: int, max_len: int = 64) -> "torch.Tensor":
    """Lists of token ids, cut at ``max_len`` and right-padded with ``pad_id``, as a (N, T) tensor.

    T is the longest (cut) list; an empty list becomes a single padding token.
    """
    import torch

    seqs = [list(ids[:max_len]) or [pad_id] for ids in seqs]
    x = torch.full((len(seqs), max(map(len, seqs))), pad_id, dtype=torch.long)  # (N, T)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = torch.tensor(s)
    return x


class Vocab:
    """A word <-> id mapping: ``itos`` (list) and ``stoi`` (dict); unknown words map to ``<unk>``."""

    PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"
    SPECIALS = (PAD, UNK, EOS)

    def __init__(self, itos: Sequence[str]):
        if list(itos[:len(self.SPECIALS)]) != list(self.SPECIALS):
            raise ValueError(f"A Vocab must start with {self.SPECIALS}; got {list(itos[:3])}.")
        self.itos = list(itos)
        self.stoi = {s: i for i, s in enumerate(self.itos)}

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], max_size: int | None = None,
              min_freq: int = 1) -> Vocab:
        """The most frequent tokens (ties broken alphabetically), specials first."""
        counts = Counter(t for tokens in token_lists for t in tokens)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq and t not in cls.SPECIALS),
                        key=lambda t: (-counts[t], t))
        room = None if max_size is None else max(0, max_size - len(cls.SPECIALS))
        return cls([*cls.SPECIALS, *ranked[:room]])

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def pad_id(self) -> int:
        """Id of ``<pad>``."""
        return self.stoi[self.PAD]

    @property
    def unk_id(self) -> int:
        """Id of ``<unk>``."""
        return self.stoi[self.UNK]

    @property
    def eos_id(self) -> int:
        """Id of ``<eos>``."""
        return self.stoi[self.EOS]

    def encode(self, tokens: str | Sequence[str]) -> list[int]:
        """Ids of tokens (a string is tokenised first)."""
        tokens = tokenize(tokens) if isinstance(tokens, str) else tokens
        unk = self.unk_id
        return [self.stoi.get(t, unk) for t in tokens]

    def decode(self, ids: Iterable[int]) -> str:
        """Tokens of ``ids`` joined by spaces (padding dropped)."""
        return " ".join(self.itos[int(i)] for i in ids if int(i) != self.pad_id)

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON."""
        from ftlab.assets import atomic_write_bytes

        atomic_write_bytes(path, json.dumps({"itos": self.itos}, ensure_ascii=False).encode())

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read a vocabulary written by :meth:`save`."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"Vocabulary file {path} does not exist; build one with "
                                    "Vocab.build(...) and save it, or rebuild the checkpoint.")
        return cls(json.loads(path.read_text(encoding="utf-8"))["itos"])
