"""The AWD-LSTM: a small word-level LSTM language model and the text classifier on its encoder.

Merity, Keskar & Socher 2018, "Regularizing and Optimizing LSTM Language Models" (ICLR): embedding
dropout (whole words), locked (variational) dropout with one mask per sequence, DropConnect on the
hidden-to-hidden weights, and tied input/output weights (Press & Wolf 2017; Inan et al. 2017).
Dropout values follow fastai's ``awd_lstm_lm_config`` and ``awd_lstm_clas_config``. The classifier
puts ULMFiT's concat pooling and a two-layer head on the encoder (Howard & Ruder 2018, section 3.3);
``transfer_vocab`` moves a pretrained LM onto a new vocabulary. ULMFiT's fine-tuning schedule lives in
:mod:`ftlab.ulmfit`, the batching of token streams in :mod:`ftlab.lm_data`.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ftlab.train import cross_entropy, run_device
from ftlab.vocab import Vocab


@dataclass
class LMConfig:
    """Sizes and dropout probabilities of an AWD-LSTM."""

    vocab_size: int = 8000
    emb_size: int = 128
    hidden_size: int = 256
    n_layers: int = 2
    pad_id: int = 0
    embed_p: float = 0.02  # drop whole words from the embedding matrix
    input_p: float = 0.25  # locked dropout on the embeddings
    hidden_p: float = 0.15  # locked dropout between LSTM layers
    weight_p: float = 0.2  # DropConnect on hidden-to-hidden weights
    output_p: float = 0.1  # locked dropout on the last layer's output

    def scaled(self, drop_mult: float) -> LMConfig:
        """The same sizes with every dropout probability multiplied by ``drop_mult``."""
        ps = {k: v * drop_mult for k, v in asdict(self).items() if k.endswith("_p")}
        return replace(self, **ps)


# fastai's classifier dropouts (awd_lstm_clas_config): stronger, since labels are few.
CLASSIFIER_DROPOUT = dict(embed_p=0.05, input_p=0.4, hidden_p=0.3, weight_p=0.5, output_p=0.4)


# --------------------------------------------------------------------------- regularisers

class LockedDropout(nn.Module):
    """Variational dropout: one mask per sequence, shared by all time steps (Gal & Ghahramani 2016)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, C)
        if not self.training or self.p == 0:
            return x
        mask = x.new_empty(x.size(0), 1, x.size(2)).bernoulli_(1 - self.p) / (1 - self.p)
        return x * mask  # the (B, 1, C) mask broadcasts over T


def embedding_dropout(embed: nn.Embedding, ids: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Look up ``ids``, dropping whole rows (words) of the embedding matrix with probability p."""
    weight = embed.weight
    if training and p > 0:
        keep = weight.new_empty(weight.size(0), 1).bernoulli_(1 - p) / (1 - p)
        weight = weight * keep  # (V, E): a dropped word is zero wherever it occurs
    return F.embedding(ids, weight, embed.padding_idx)


class WeightDropLSTM(nn.Module):
    """One LSTM layer with DropConnect on its hidden-to-hidden matrix (Wan et al. 2013)."""

    def __init__(self, input_size: int, hidden_size: int, weight_p: float):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.weight_p = weight_p

    def forward(self, x: torch.Tensor, state=None):  # x: (B, T, C_in)
        params = dict(self.lstm.named_parameters())
        # the same dropped matrix is used at every time step, so the recurrence stays consistent
        params["weight_hh_l0"] = F.dropout(params["weight_hh_l0"], self.weight_p, self.training)
        return functional_call(self.lstm, params, (x, state))  # (B, T, C_out), (h, c)


# --------------------------------------------------------------------------- models

class AWDLSTM(nn.Module):
    """The encoder: embedding -> stacked weight-dropped LSTMs, with locked dropout between them."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.emb_size, padding_idx=cfg.pad_id)
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)
        sizes = [cfg.emb_size] + [cfg.hidden_size] * (cfg.n_layers - 1) + [cfg.emb_size]  # last = emb (tying)
        self.rnns = nn.ModuleList(WeightDropLSTM(sizes[i], sizes[i + 1], cfg.weight_p)
                                  for i in range(cfg.n_layers))
        self.input_dp = LockedDropout(cfg.input_p)
        self.hidden_dps = nn.ModuleList(LockedDropout(cfg.hidden_p) for _ in range(cfg.n_layers - 1))

    def forward(self, ids: torch.Tensor, states: list | None = None) -> tuple[torch.Tensor, list]:
        """Outputs of the last layer (B, T, E) and each layer's final (h, c)."""
        x = self.input_dp(embedding_dropout(self.embed, ids, self.cfg.embed_p, self.training))  # (B, T, E)
        new_states = []
        for i, rnn in enumerate(self.rnns):
            x, state = rnn(x, None if states is None else states[i])
            new_states.append(state)
            if i < len(self.hidden_dps):
                x = self.hidden_dps[i](x)
        return x, new_states


class LanguageModel(nn.Module):
    """AWD-LSTM encoder + a decoder that shares the embedding matrix; keeps its state between calls.

    Training on contiguous chunks (see :func:`ftlab.lm_data.lm_batches`), the final hidden state of one batch
    is the initial state of the next, so the model sees context longer than one chunk; the
    state is detached so gradients stop at the chunk boundary (truncated BPTT). ``reset()``
    forgets it.
    """

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = AWDLSTM(cfg)
        self.output_dp = LockedDropout(cfg.output_p)
        self.decoder = nn.Linear(cfg.emb_size, cfg.vocab_size)
        self.decoder.weight = self.encoder.embed.weight  # tied: one (V, E) matrix for both ends
        self._states: list | None = None

    def reset(self) -> None:
        """Forget the hidden state carried over from the previous batch."""
        self._states = None

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Next-token logits (B, T, V) for token ids (B, T)."""
        states = self._states
        if states is not None and states[0][0].size(1) != ids.size(0):
            states = None  # a batch of another size starts a new stream
        out, new = self.encoder(ids, states)
        self._states = [(h.detach(), c.detach()) for h, c in new]
        return self.decoder(self.output_dp(out))  # (B, T, V)


def lm_state(model: LanguageModel) -> dict[str, torch.Tensor]:
    """The state dict to save: the tied decoder weight is stored once, as the embedding."""
    return {k: v for k, v in model.state_dict().items() if k != "decoder.weight"}


def load_lm(state: dict[str, torch.Tensor], cfg: LMConfig) -> LanguageModel:
    """A :class:`LanguageModel` with weights from ``state`` (as saved by :func:`lm_state`)."""
    model = LanguageModel(cfg)
    hint = "Build the model with the checkpoint's config (its model card's 'config')."
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # a tensor of the wrong shape
        raise ValueError(f"Checkpoint does not fit {cfg}: {err}. {hint}") from None
    if set(missing) - {"decoder.weight"} or unexpected:
        raise ValueError(f"Checkpoint does not fit {cfg}: missing {missing}, unexpected {unexpected}. {hint}")
    return model


def transfer_vocab(state: dict[str, torch.Tensor], old: Vocab, new: Vocab) -> dict[str, torch.Tensor]:
    """Re-index embedding and output bias rows from ``old`` to ``new`` vocabulary.

    Words both vocabularies know keep their pretrained rows; new words start at the mean
    row, as in ULMFiT (fastai's ``match_embeds``).
    """
    out = dict(state)
    for key in ("encoder.embed.weight", "decoder.bias"):
        w = state[key]  # (V_old, E) or (V_old,)
        rows = w.mean(0, keepdim=True).repeat(len(new), *([1] * (w.dim() - 1)))
        shared = [(i, old.stoi[t]) for i, t in enumerate(new.itos) if t in old.stoi]
        new_idx, old_idx = (torch.tensor([pair[j] for pair in shared], dtype=torch.long) for j in (0, 1))
        rows[new_idx] = w[old_idx]
        out[key] = rows
    return out


def pretrained_lm_for(vocab: Vocab, device: torch.device | str = "cpu") -> LanguageModel:
    """The profile's pretrained LM moved onto ``vocab`` in one call, on ``device``: shared words keep their
    pretrained rows, new words start at the mean row (:func:`transfer_vocab`); the checkpoint is sha256-checked."""
    from ftlab.pretrain import lstm_lm

    general, general_vocab, _ = lstm_lm.load()
    cfg = replace(general.cfg, vocab_size=len(vocab))
    return load_lm(transfer_vocab(lm_state(general), general_vocab, vocab), cfg).to(device)


def concat_pool(out: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Concat pooling of outputs (B, T, E) at real (mask) steps: [last, max, mean] -> (B, 3E)."""
    lengths = mask.sum(1).clamp(min=1)  # (B,)
    last = out[torch.arange(out.size(0)), lengths - 1]  # (B, E)
    maxed = out.masked_fill(~mask[..., None], float("-inf")).max(1).values  # (B, E)
    mean = (out * mask[..., None]).sum(1) / lengths[:, None]  # (B, E)
    return torch.cat([last, maxed, mean], dim=1)


class TextClassifier(nn.Module):
    """AWD-LSTM encoder + concat pooling + a two-layer head (BatchNorm, dropout, Linear)."""

    def __init__(self, cfg: LMConfig, n_classes: int, head_hidden: int = 50, head_p: float = 0.1):
        super().__init__()
        self.cfg = cfg
        self.encoder = AWDLSTM(cfg)
        e = cfg.emb_size
        self.head = nn.Sequential(
            nn.BatchNorm1d(3 * e), nn.Dropout(cfg.output_p), nn.Linear(3 * e, head_hidden), nn.ReLU(),
            nn.BatchNorm1d(head_hidden), nn.Dropout(head_p), nn.Linear(head_hidden, n_classes))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Class logits (B, C) for right-padded token ids (B, T)."""
        out, _ = self.encoder(ids)  # (B, T, E); pads come after the words, so they change nothing before
        return self.head(concat_pool(out, ids != self.cfg.pad_id))


def classifier_from_lm(lm: LanguageModel | None, cfg: LMConfig, n_classes: int,
                       drop_mult: float = 1.0) -> TextClassifier:
    """A :class:`TextClassifier` whose encoder is ``lm``'s (random when ``lm`` is None).

    Its dropouts are fastai's classifier dropouts times ``drop_mult`` (fastai's knob too).
    """
    drops = {k: v * drop_mult for k, v in CLASSIFIER_DROPOUT.items()}
    clf = TextClassifier(replace(cfg, **drops), n_classes)
    if lm is not None:
        clf.encoder.load_state_dict(lm.encoder.state_dict())
    return clf


def awd_lstm_groups(model: nn.Module) -> list[nn.Module]:
    """Layer groups of an AWD-LSTM model, bottom to top (use :func:`ftlab.models.layer_groups`).

    Classifier: embedding, LSTM 1, ..., LSTM n, head. Language model: LSTM 1, ..., LSTM n, then the
    embedding with the decoder; as in fastai the tied embedding goes last, because it is also the
    output layer and new words must learn.
    """
    rnns = list(model.encoder.rnns)
    if isinstance(model, TextClassifier):
        return [model.encoder.embed, *rnns, model.head]
    if isinstance(model, LanguageModel):  # decoder.weight is the embedding: the ModuleList counts it once
        return [*rnns, nn.ModuleList([model.encoder.embed, model.decoder])]
    raise TypeError(f"awd_lstm_groups knows LanguageModel and TextClassifier, not {type(model).__name__}.")


@torch.no_grad()
def perplexity(model: LanguageModel, batches: Iterable, device: torch.device | str | None = None) -> float:
    """exp(mean next-token cross-entropy) over ``batches`` from :func:`ftlab.lm_data.lm_batches`."""
    device = run_device(model, device)
    model.eval()
    model.reset()
    total, count = 0.0, 0
    for x, y in batches:
        logits = model(x.to(device))  # (B, T, V)
        total += cross_entropy(logits, y.to(device)).item() * y.numel()
        count += y.numel()
    model.reset()
    return math.exp(total / count)


@torch.no_grad()
def generate(model: LanguageModel, vocab: Vocab, prompt: str, n_words: int = 12,
             temperature: float = 0.7, seed: int = 0) -> str:
    """Continue ``prompt`` by sampling up to ``n_words`` tokens (stops at ``<eos>``; never ``<unk>``)."""
    device = next(model.parameters()).device
    model.eval()
    model.reset()
    gen = torch.Generator().manual_seed(seed)
    logits = model(torch.tensor([vocab.encode(prompt)], device=device))[0, -1]  # (V,)
    words: list[int] = []
    for _ in range(n_words):
        logits[vocab.unk_id] = float("-inf")
        nxt = torch.multinomial(F.softmax(logits.cpu() / temperature, -1), 1, generator=gen).item()
        if nxt == vocab.eos_id:
            break
        words.append(nxt)
        logits = model(torch.tensor([[nxt]], device=device))[0, -1]
    model.reset()
    return f"{prompt} {vocab.decode(words)}".strip()
