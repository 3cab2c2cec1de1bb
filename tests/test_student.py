"""Tests of ftlab.student on a tiny two-class word task."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ftlab.student import BagOfWords, build_vocab, distill_loss, encode_words, train_student

TEXTS = ["a cat eats fish", "the dog runs", "a small bird sings", "bread and butter", "an apple pie", "sweet rice"]
LABELS = [0, 0, 0, 1, 1, 1]


def test_encode_pads_and_maps_unknown_words_to_unk():
    vocab = build_vocab(TEXTS)
    ids = encode_words(["A cat eats zebras", "pie"], vocab)
    assert ids.shape == (2, 4) and ids[1, 1:].eq(vocab.pad_id).all()
    assert vocab.itos[ids[0, 1]] == "cat" and ids[0, 3] == vocab.unk_id, "a word never seen -> <unk>"
    known = encode_words(["a cat eats zebras"], vocab, known={"a", "eats"})
    assert known[0].tolist() == [vocab.stoi["a"], vocab.unk_id, vocab.stoi["eats"], vocab.unk_id]
    assert encode_words(["w " * 50], vocab, max_words=40).shape == (1, 40)


def test_student_output_shape_and_padding_is_ignored():
    vocab = build_vocab(TEXTS)
    torch.manual_seed(0)
    model = BagOfWords(len(vocab), 3, dim=8, hidden=8, pad_id=vocab.pad_id)
    ids = encode_words(TEXTS, vocab)
    assert model(ids).shape == (len(TEXTS), 3)
    padded = torch.cat([ids, torch.full((len(TEXTS), 5), vocab.pad_id)], 1)
    torch.testing.assert_close(model(padded), model(ids))   # a mean over the words, not over the padding


def test_distill_loss_matches_kl_div_times_t_squared():
    g = torch.Generator().manual_seed(0)
    zs, zt = 3 * torch.randn(16, 8, generator=g), 3 * torch.randn(16, 8, generator=g)
    for T in (1.0, 4.0):
        ref = T * T * F.kl_div(F.log_softmax(zs / T, -1), F.log_softmax(zt / T, -1), log_target=True,
                               reduction="batchmean")
        torch.testing.assert_close(distill_loss(zs, zt, T), ref)
    assert distill_loss(zt, zt).abs() < 1e-6


def test_distilled_student_loss_falls_and_it_learns_the_task():
    vocab = build_vocab(TEXTS)
    ids, y = encode_words(TEXTS, vocab), torch.tensor(LABELS)
    teacher = 5.0 * F.one_hot(y, 2).float()   # a confident teacher's logits
    torch.manual_seed(0)
    model = BagOfWords(len(vocab), 2, dim=8, hidden=8, pad_id=vocab.pad_id)
    before = distill_loss(model(ids), teacher).item()
    train_student(model, (ids, teacher), lambda z, t: distill_loss(z, t, 2.0), steps=60, batch_size=4, lr=3e-2,
                  device="cpu")
    assert not model.training
    with torch.no_grad():
        assert distill_loss(model(ids), teacher).item() < before / 4
        assert model(ids).argmax(-1).tolist() == LABELS
