"""Tests of ftlab.awd_lstm, ftlab.lm_data and ftlab.ulmfit on tiny configs: AWD-LSTM, STLR, discriminative LRs,
concat pooling, layer groups."""
import math

import pytest
import torch

from ftlab.freeze import freeze_to
from ftlab.awd_lstm import (LanguageModel, LMConfig, concat_pool, classifier_from_lm, generate,
                             lm_state, load_lm, perplexity, transfer_vocab)
from ftlab.lm_data import encode_stream, lm_batches, text_loader
from ftlab.models import layer_groups
from ftlab.train import fit
from ftlab.ulmfit import discriminative_lrs, gradual_unfreeze, stlr, stlr_factor
from ftlab.vocab import Vocab

TINY = LMConfig(vocab_size=20, emb_size=8, hidden_size=16, n_layers=2)


@pytest.fixture
def lm() -> LanguageModel:
    torch.manual_seed(0)
    return LanguageModel(TINY)


def _pattern_stream(n: int = 3000) -> torch.Tensor:
    return torch.arange(3, 13).repeat(n // 10)  # a cycle of 10 tokens: easy to learn


def test_tied_weights_share_storage(lm):
    assert lm.decoder.weight is lm.encoder.embed.weight
    state = lm_state(lm)
    assert "decoder.weight" not in state
    again = load_lm(state, TINY)
    assert again.decoder.weight.data_ptr() == again.encoder.embed.weight.data_ptr()
    assert torch.equal(again.encoder.embed.weight, lm.encoder.embed.weight)


def test_load_lm_rejects_a_mismatched_config(lm):
    with pytest.raises(ValueError, match="does not fit"):
        load_lm(lm_state(lm), LMConfig(vocab_size=20, emb_size=8, hidden_size=16, n_layers=3))


def test_lm_loss_falls_and_perplexity_drops(lm):
    batches = lm_batches(_pattern_stream(), batch_size=4, bptt=10)
    before = perplexity(lm, batches[:1], device="cpu")
    # a tiny LSTM fed one endless stream saturates its cell state, so start each chunk afresh
    fresh = [lambda event, state: state.model.reset()]
    hist = fit(lm, batches, epochs=2, lr=1e-2, schedule="constant", device="cpu", progress=False, callbacks=fresh)
    after = perplexity(lm, batches[:1], device="cpu")
    assert sum(hist.loss[-5:]) / 5 < 0.6 * sum(hist.loss[:5]) / 5
    assert after < before / 2 and before > 10
    vocab = Vocab(["<pad>", "<unk>", "<eos>"] + [f"w{i}" for i in range(17)])  # ids 3..12 = w0..w9
    text = generate(lm, vocab, "w0 w1 w2", n_words=3, temperature=0.05)
    assert text.startswith("w0 w1 w2 w3") and len(text.split()) == 6


def test_lm_batches_are_contiguous_and_shifted():
    ids = torch.arange(101)
    batches = lm_batches(ids, batch_size=2, bptt=7)
    x0, y0 = batches[0]
    x1, _ = batches[1]
    assert x0.shape == (2, 7) and torch.equal(y0, x0 + 1)
    assert torch.equal(x1[:, 0], x0[:, -1] + 1)  # the next chunk continues each row
    with pytest.raises(ValueError, match="too few"):
        lm_batches(torch.arange(3), batch_size=4)


def test_lm_carries_state_between_batches(lm):
    lm.eval()
    x = torch.randint(3, 20, (2, 5))
    first = lm(x)
    second = lm(x)  # starts from the state the first call left
    assert not torch.allclose(first, second)
    lm.reset()
    assert torch.allclose(lm(x), first)


def test_dropouts_are_random_in_training_only(lm):
    x = torch.randint(3, 20, (2, 6))
    lm.eval()
    assert torch.equal(lm.encoder(x)[0], lm.encoder(x)[0])
    lm.train()
    assert not torch.equal(lm.encoder(x)[0], lm.encoder(x)[0])


def test_weight_drop_masks_recurrent_gradients(lm):
    torch.manual_seed(1)
    rnn = lm.encoder.rnns[0]
    rnn.weight_p = 0.5
    out, _ = rnn(torch.randn(3, 4, 8))
    out.sum().backward()
    zero_frac = (rnn.lstm.weight_hh_l0.grad == 0).float().mean().item()
    assert 0.3 < zero_frac < 0.7  # about half the recurrent weights were dropped for this batch
    assert (rnn.lstm.weight_ih_l0.grad == 0).float().mean().item() < 0.1


def test_stlr_shape():
    total, cut = 100, 10
    f = [stlr_factor(t, total, cut_frac=0.1, ratio=32) for t in range(total)]
    assert f[0] == pytest.approx(1 / 32) and f[cut] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(f[:cut], f[1:cut + 1]))  # rises for cut_frac of the steps
    assert all(a > b for a, b in zip(f[cut:], f[cut + 1:]))  # then falls
    assert f[-1] < 0.05


def test_stlr_drives_fit(lm):
    batches = lm_batches(_pattern_stream(), batch_size=4, bptt=10)[:20]
    hist = fit(lm, batches, lr=1e-2, schedule=stlr(cut_frac=0.25, ratio=10), device="cpu", progress=False)
    lrs = [row[0] for row in hist.lrs]
    assert lrs[0] == pytest.approx(1e-3) and max(lrs) == pytest.approx(1e-2) and lrs.index(max(lrs)) == 5


def test_discriminative_lrs():
    assert discriminative_lrs(1e-2, 3) == pytest.approx([1e-2 / 2.6 ** 2, 1e-2 / 2.6, 1e-2])


def test_concat_pooling_ignores_padding():
    out = torch.tensor([[[1.0], [3.0], [9.0]], [[2.0], [4.0], [6.0]]])  # (B=2, T=3, E=1)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    pooled = concat_pool(out, mask)
    assert pooled.shape == (2, 3)
    assert pooled.tolist() == [[3.0, 3.0, 2.0], [6.0, 6.0, 4.0]]  # [last, max, mean]


def test_classifier_shape_and_padding_invariance(lm):
    clf = classifier_from_lm(lm, TINY, n_classes=4).eval()
    x = torch.randint(3, 20, (5, 7))
    padded = torch.cat([x, torch.zeros(5, 3, dtype=torch.long)], dim=1)
    assert clf(x).shape == (5, 4)
    assert torch.allclose(clf(x), clf(padded), atol=1e-6)
    assert torch.equal(clf.encoder.embed.weight, lm.encoder.embed.weight)


def test_layer_groups_cover_every_parameter(lm):
    clf = classifier_from_lm(None, TINY, n_classes=3)
    for model, n in ((lm, 3), (clf, 4)):
        groups = layer_groups(model)
        assert len(groups) == n and all(isinstance(g, torch.nn.Module) for g in groups)  # one return type
        ids = [id(p) for g in groups for p in g.parameters()]
        assert len(ids) == len(set(ids)) == len({id(p) for p in model.parameters()})
    assert groups[-1] is clf.head


def test_frozen_groups_unchanged():
    torch.manual_seed(0)
    clf = classifier_from_lm(None, TINY, n_classes=3)
    groups = layer_groups(clf)
    freeze_to(groups, len(groups) - 1)  # only the head learns
    before = [p.detach().clone() for g in groups for p in g.parameters()]
    dl = [(torch.randint(3, 20, (8, 6)), torch.randint(0, 3, (8,))) for _ in range(3)]
    fit(clf, dl, lr=1e-2, device="cpu", progress=False)
    after = [p.detach() for g in groups for p in g.parameters()]
    n_frozen = sum(len(list(g.parameters())) for g in groups[:-1])
    assert all(torch.equal(a, b) for a, b in zip(before[:n_frozen], after[:n_frozen]))
    assert not all(torch.equal(a, b) for a, b in zip(before[n_frozen:], after[n_frozen:]))


def test_gradual_unfreeze_adds_one_group_per_stage():
    torch.manual_seed(0)
    clf = classifier_from_lm(None, TINY, n_classes=3)
    dl = [(torch.randint(3, 20, (8, 6)), torch.randint(0, 3, (8,))) for _ in range(2)]
    hist = gradual_unfreeze(clf, dl, lr=1e-2, device="cpu", progress=False)
    assert [len(row) for row in hist.lrs] == [1, 1, 2, 2, 3, 3, 4, 4]
    peak = max(hist.lrs[-2:], key=lambda r: r[-1])
    assert peak[-1] / peak[-2] == pytest.approx(2.6)


def test_transfer_vocab_keeps_known_rows_and_averages_new_ones(lm):
    old = Vocab(["<pad>", "<unk>", "<eos>"] + [f"w{i}" for i in range(17)])
    new = Vocab(["<pad>", "<unk>", "<eos>", "w5", "brand_new"])
    state = transfer_vocab(lm_state(lm), old, new)
    emb = lm.encoder.embed.weight.detach()
    assert state["encoder.embed.weight"].shape == (5, 8) and state["decoder.bias"].shape == (5,)
    assert torch.equal(state["encoder.embed.weight"][3], emb[old.stoi["w5"]])
    assert torch.allclose(state["encoder.embed.weight"][4], emb.mean(0))
    load_lm(state, LMConfig(**{**TINY.__dict__, "vocab_size": 5}))


def test_text_loader_and_stream():
    vocab = Vocab.build([["a", "b", "c"]])
    dl = text_loader(["a b", "c a b c", "zzz"], [0, 1, 2], vocab, batch_size=3)
    x, y = next(iter(dl))
    assert x.shape == (3, 4) and y.tolist() == [0, 1, 2]
    assert x[0].tolist() == vocab.encode("a b") + [vocab.pad_id] * 2
    assert x[2, 0].item() == vocab.unk_id
    stream = encode_stream("a b\n\nc", vocab)
    assert stream.tolist() == vocab.encode("a b") + [vocab.eos_id] + vocab.encode("c") + [vocab.eos_id]
    assert math.isfinite(float(stream.float().mean()))


def test_pretrained_lm_for_a_new_vocabulary_in_one_call():
    from ftlab.pretrain import lstm_lm
    from ftlab.awd_lstm import pretrained_lm_for
    from ftlab.vocab import Vocab

    general, general_vocab, _ = lstm_lm.load()
    vocab = Vocab.build([["the", "kestrel", "is", "a", "small", "falcon", "zzqx"]], min_freq=1)
    lm = pretrained_lm_for(vocab)
    assert lm.decoder.weight.shape[0] == len(vocab) and lm.decoder.weight is lm.encoder.embed.weight
    known = vocab.stoi["the"]
    assert torch.equal(lm.encoder.embed.weight[known], general.encoder.embed.weight[general_vocab.stoi["the"]])
