"""Thin helpers around Hugging Face transformers for BERT-style fine-tuning (Devlin et al. 2019).

Loading goes through the asset catalogue (``ftlab.assets.resolve("bert")``): the pocket profile
loads all-MiniLM-L6-v2 (a 6-layer BERT) from an installed package, the full profile
``bert-base-uncased`` from the hub. Loaders report which weights are new (the classification
head) instead of hiding it, as timm does. Batches are dicts with ``labels``, so the same
loader feeds ``ftlab.train.fit`` and the model itself; the Hugging Face ``Trainer`` is used as
is, never re-implemented here.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ftlab.assets import AssetMissing, resolve

Source = str | Path


def model_source(profile: str | None = None, source: Source | None = None) -> Source:
    """Where BERT comes from: ``source`` (a local folder) if given, else the catalogue's ``bert``."""
    if source is None:
        return resolve("bert", profile)
    path = Path(source)
    if not (path / "config.json").exists():
        raise AssetMissing(f"{path} is not a saved model folder (no config.json). Pass a folder written "
                           "by `model.save_pretrained(...)`, or source=None to use the catalogue's BERT.")
    return path


def load_tokenizer(profile: str | None = None, source: Source | None = None):
    """The WordPiece tokenizer that belongs to the profile's BERT."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_source(profile, source))


def _load(auto_cls, profile: str | None, source: Source | None, verbose: bool, **kwargs) -> nn.Module:
    from transformers.utils import logging

    where = model_source(profile, source)
    level, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()  # we print the missing/unexpected keys ourselves, once, readably
    logging.disable_progress_bar()  # a 0.1 s "Loading weights" bar is clutter in a lesson
    try:
        model, info = auto_cls.from_pretrained(where, output_loading_info=True, **kwargs)
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()
    model.loading_info = info
    if verbose:
        report_loading(info, where)
    return model


def report_loading(info: dict, where: Source) -> None:
    """Print which weights were newly initialised (the head) and which checkpoint keys went unused."""
    name = f"{where.parent.name}/{where.name}" if isinstance(where, Path) else where
    missing, unused = sorted(info.get("missing_keys", [])), sorted(info.get("unexpected_keys", []))
    print(f"loaded {name}: new (randomly initialised) = {missing or 'none'}; "
          f"unused from checkpoint = {unused or 'none'}")


def load_bert_classifier(num_labels: int, profile: str | None = None, source: Source | None = None,
                         verbose: bool = True, device: torch.device | str = "cpu", **kwargs) -> nn.Module:
    """Pretrained BERT with a new, randomly initialised ``num_labels``-way head on [CLS], on ``device``."""
    from transformers import AutoModelForSequenceClassification

    if num_labels < 2:
        raise ValueError(f"num_labels must be at least 2, got {num_labels}.")
    # never trust_remote_code: a lesson must not execute code that comes with downloaded weights
    return _load(AutoModelForSequenceClassification, profile, source, verbose,
                 num_labels=num_labels, trust_remote_code=False, **kwargs).to(device)


def load_bert_token_classifier(tag_names: Sequence[str], profile: str | None = None, source: Source | None = None,
                               verbose: bool = True, device: torch.device | str = "cpu") -> nn.Module:
    """Pretrained BERT with a new linear layer on *every* token's vector, one output per tag, on ``device``.

    ``tag_names`` become the model's ``id2label`` / ``label2id``, so its config says what each output means.
    """
    from transformers import AutoModelForTokenClassification

    names = list(tag_names)
    if len(names) < 2 or len(set(names)) != len(names):
        raise ValueError(f"tag_names must be at least 2 distinct tags, got {names!r}.")
    return _load(AutoModelForTokenClassification, profile, source, verbose, num_labels=len(names),
                 id2label=dict(enumerate(names)), label2id={t: i for i, t in enumerate(names)},
                 trust_remote_code=False).to(device)


def load_bert_encoder(profile: str | None = None, source: Source | None = None,
                      verbose: bool = False, device: torch.device | str = "cpu") -> nn.Module:
    """The pretrained BERT body alone (no head), in eval mode, on ``device``."""
    from transformers import AutoModel

    return _load(AutoModel, profile, source, verbose, trust_remote_code=False).to(device).eval()


def warn_if_truncated(tokenizer, texts: Sequence[str], pairs: Sequence[str] | None, max_length: int,
                      stacklevel: int = 3) -> float:
    """Warn once (per call) with the share of texts longer than ``max_length`` tokens, which truncation cuts;
    returns that share. Choose ``max_length`` from the length distribution (lesson 07) to keep it near 0.
    ``stacklevel`` as in ``warnings.warn``: the default names the caller of the function that called this."""
    import warnings

    lengths = [len(ids) for ids in tokenizer(list(texts), list(pairs) if pairs is not None else None)["input_ids"]]
    cut = sum(n > max_length for n in lengths)
    if cut:
        warnings.warn(f"{cut} of {len(lengths)} texts ({cut / len(lengths):.1%}) are longer than max_length="
                      f"{max_length} tokens and were cut (the longest has {max(lengths)}); pass a larger "
                      "max_length if their ends matter.", stacklevel=stacklevel)
    return cut / max(len(lengths), 1)


def encode_texts(tokenizer, texts: Sequence[str], pairs: Sequence[str] | None = None,
                 max_length: int = 64, warn: bool = True) -> dict[str, torch.Tensor]:
    """Tokenise texts (or text pairs) into padded tensors: input_ids, attention_mask, token_type_ids."""
    texts = list(texts)
    if pairs is not None and len(pairs) != len(texts):
        raise ValueError(f"texts and pairs differ in length ({len(texts)} vs {len(pairs)}).")
    if warn:
        warn_if_truncated(tokenizer, texts, pairs, max_length)
    return dict(tokenizer(texts, list(pairs) if pairs is not None else None, padding=True,
                          truncation=True, max_length=max_length, return_tensors="pt"))


class TextClassificationDataset(Dataset):
    """Tokenised texts (or pairs) with integer labels; items are unpadded dicts for a padding collator."""

    def __init__(self, tokenizer, texts: Sequence[str], labels: Sequence[int],
                 pairs: Sequence[str] | None = None, max_length: int = 64):
        if len(texts) != len(labels):
            raise ValueError(f"texts and labels differ in length ({len(texts)} vs {len(labels)}).")
        if len(texts) == 0:
            raise ValueError("No texts: the split or subset you passed is empty.")
        pairs = list(pairs) if pairs is not None else None
        warn_if_truncated(tokenizer, texts, pairs, max_length)
        self.encodings = tokenizer(list(texts), pairs, truncation=True, max_length=max_length)
        self.labels = [int(y) for y in labels]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {**{k: v[i] for k, v in self.encodings.items()}, "labels": self.labels[i]}


class LengthGroupedBatches(torch.utils.data.Sampler):
    """Batches of items of similar length, so that padding each batch to its longest item costs little.

    Unshuffled: every item in order of length. Shuffled (reproducibly from ``seed``, anew each epoch):
    a random permutation is cut into chunks of ``chunk`` batches, each chunk is sorted by length and cut
    into batches, and the batches are shuffled, as ``group_by_length`` does in Hugging Face's Trainer.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = False, seed: int = 0,
                 chunk: int = 8):
        self.lengths, self.batch_size, self.shuffle, self.chunk = list(lengths), batch_size, shuffle, chunk
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self):
        n, bs = len(self.lengths), self.batch_size
        if not self.shuffle:
            order = sorted(range(n), key=self.lengths.__getitem__)
            yield from (order[i:i + bs] for i in range(0, n, bs))
            return
        perm, size = torch.randperm(n, generator=self.gen).tolist(), bs * self.chunk
        batches = []
        for start in range(0, n, size):
            part = sorted(perm[start:start + size], key=self.lengths.__getitem__)
            batches += [part[i:i + bs] for i in range(0, len(part), bs)]
        yield from (batches[i] for i in torch.randperm(len(batches), generator=self.gen).tolist())


def make_loader(tokenizer, texts: Sequence[str], labels: Sequence[int], pairs: Sequence[str] | None = None,
                batch_size: int = 16, shuffle: bool = False, max_length: int = 64, seed: int = 0,
                group_by_length: bool = False) -> DataLoader:
    """A DataLoader of dict batches (input_ids, attention_mask, token_type_ids, labels) padded per batch.

    Args:
        pairs: second segments (e.g. glosses) for sentence-pair tasks; token_type_ids mark them 1.
        shuffle: reshuffle every epoch, reproducibly from ``seed``.
        group_by_length: batch texts of similar length together (:class:`LengthGroupedBatches`): far
            less padding. Unshuffled, the items then come in order of length, not in the given order
            (accuracy and loss do not care; :func:`predict_texts` gives logits in the given order).
    """
    from transformers import DataCollatorWithPadding

    ds = TextClassificationDataset(tokenizer, texts, labels, pairs, max_length)
    # padding to the longest item of each batch, not to max_length: short glosses train much faster
    collate = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    if group_by_length:
        lengths = [len(ids) for ids in ds.encodings["input_ids"]]
        batches = LengthGroupedBatches(lengths, batch_size, shuffle, seed)
        return DataLoader(ds, batch_sampler=batches, collate_fn=collate)
    gen = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, collate_fn=collate, generator=gen)


def predict_texts(model: nn.Module, tokenizer, texts: Sequence[str], batch_size: int = 64, max_length: int = 64,
                  device: torch.device | str | None = None, progress: bool = False) -> torch.Tensor:
    """Logits of a classifier for ``texts``, in their order, computed in batches of similar length."""
    from ftlab.train import predict

    dl = make_loader(tokenizer, texts, [0] * len(texts), batch_size=batch_size, max_length=max_length,
                     group_by_length=True)
    logits, _ = predict(model, tqdm(dl, desc="predict", leave=False, disable=not progress), device)
    order = [i for batch in dl.batch_sampler for i in batch]
    out = torch.empty_like(logits)
    out[order] = logits   # back to the caller's order
    return out


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of token vectors (B, T, H) over real tokens only, given the mask (B, T) -> (B, H)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1): padding contributes nothing
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


POOLINGS = ("mean", "pooler", "cls")


def sentence_features(encoder: nn.Module, tokenizer, texts: Sequence[str], poolings: Sequence[str] = ("mean",),
                      batch_size: int = 64, pairs: Sequence[str] | None = None, max_length: int = 64,
                      progress: bool = True, autocast: torch.dtype | None = None) -> dict[str, np.ndarray]:
    """Frozen sentence features, one (N, H) float32 array per readout, rows in the caller's order.

    Readouts of the last layer: ``"mean"`` averages the real tokens' vectors (how sentence-transformers
    models are trained to be read), ``"pooler"`` is BERT's pooler (a dense + tanh on ``[CLS]``, what
    ``AutoModelForSequenceClassification`` feeds its head), ``"cls"`` the raw ``[CLS]`` vector. One forward
    pass serves every readout asked for. ``autocast`` runs it under ``torch.autocast`` with that dtype.
    """
    return _features(encoder, tokenizer, texts, poolings, batch_size, pairs, max_length, progress, autocast)


def mean_pooled_features(encoder: nn.Module, tokenizer, texts: Sequence[str], batch_size: int = 64,
                         pairs: Sequence[str] | None = None, max_length: int = 64,
                         progress: bool = True) -> np.ndarray:
    """Frozen sentence features: mean-pooled last hidden states, one row per text (N, H)."""
    return _features(encoder, tokenizer, texts, ("mean",), batch_size, pairs, max_length, progress, None)["mean"]


def _features(encoder, tokenizer, texts, poolings, batch_size, pairs, max_length, progress, autocast):
    """The work of sentence_features / mean_pooled_features (one level down, so warnings name their caller)."""
    unknown = [p for p in poolings if p not in POOLINGS]
    if unknown or not poolings:
        raise ValueError(f"poolings must be a non-empty list of {POOLINGS}, not {list(poolings)}.")
    body = getattr(encoder, "base_model", encoder)  # a classifier's body works too
    if "pooler" in poolings and getattr(body, "pooler", None) is None:
        raise ValueError("this encoder has no pooler layer (loaded without add_pooling_layer?); "
                         "read it with 'cls' or 'mean' instead.")
    was_training = body.training
    body.eval()
    device = next(body.parameters()).device
    texts, pairs = list(texts), list(pairs) if pairs is not None else None
    if pairs is not None and len(pairs) != len(texts):
        raise ValueError(f"texts and pairs differ in length ({len(texts)} vs {len(pairs)}).")
    # batch texts of similar length together: far less padding to compute, same result
    lengths = [len(t) + (len(pairs[i]) if pairs is not None else 0) for i, t in enumerate(texts)]
    order = np.argsort(lengths, kind="stable")
    warn_if_truncated(tokenizer, texts, pairs, max_length, stacklevel=4)  # once for all texts, not once per batch
    out: dict[str, list] = {p: [] for p in poolings}
    for i in tqdm(range(0, len(texts), batch_size), desc="features", disable=not progress, leave=False):
        idx = order[i:i + batch_size]
        enc = encode_texts(tokenizer, [texts[j] for j in idx], [pairs[j] for j in idx] if pairs is not None else None,
                           max_length, warn=False)
        enc = {k: v.to(device) for k, v in enc.items()}
        amp = torch.autocast(device.type, dtype=autocast or torch.bfloat16, enabled=autocast is not None)
        with torch.no_grad(), amp:
            result = body(**enc)
        hidden = result.last_hidden_state  # (B, T, H)
        readout = {"mean": lambda: mean_pool(hidden, enc["attention_mask"]), "pooler": lambda: result.pooler_output,
                   "cls": lambda: hidden[:, 0]}
        for p in poolings:
            out[p].append(readout[p]().float().cpu().numpy())
    body.train(was_training)
    back = np.argsort(order)  # back to the caller's order
    width = body.config.hidden_size
    return {p: np.concatenate(v)[back] if v else np.zeros((0, width), dtype=np.float32) for p, v in out.items()}


def bert_layer_groups(model: nn.Module) -> list[nn.Module]:
    """Splitter for ftlab.freeze: [embeddings, encoder layer 0, ..., layer L-1, pooler + classifier]."""
    body = getattr(model, "base_model", model)
    if not (hasattr(body, "embeddings") and hasattr(body, "encoder")):
        raise TypeError(f"bert_layer_groups expects a BERT-like model (embeddings + encoder), "
                        f"got {type(model).__name__}.")
    head = [m for m in (getattr(body, "pooler", None), getattr(model, "classifier", None)) if m is not None]
    return [body.embeddings, *body.encoder.layer, nn.ModuleList(head)]
