"""Tests of ftlab.wordnet, ftlab.corpus and ftlab.vocab: WordNet tasks, corpora, tokeniser and vocabulary."""
from collections import Counter

import pytest

from ftlab import assets, corpus, wordnet
from ftlab.vocab import Vocab, pad_ids, tokenize

needs_wordnet = pytest.mark.skipif(assets.find_local("wordnet", "pocket") is None,
                                   reason="WordNet is not installed (sudo apt-get install wordnet-base)")


@pytest.fixture(scope="module")
def task():
    return wordnet.load_category_task(per_class=100, seed=0)


@needs_wordnet
def test_category_task_is_balanced_and_sized(task):
    assert task.classes == [c.removeprefix("noun.") for c in wordnet.CATEGORIES]
    assert 8 <= len(task.classes) <= 10
    for split, n in ((task.train, 100), (task.valid, 50), (task.test, 100)):
        assert len(split) == n * len(task.classes)
        assert set(Counter(split.labels).values()) == {n}
        assert len(split.texts) == len(split.labels) == len(split.lemmas)


@needs_wordnet
def test_category_task_is_deterministic_and_seeded(task):
    again = wordnet.load_category_task(per_class=100, seed=0)
    assert again.train == task.train and again.test == task.test
    other = wordnet.load_category_task(per_class=100, seed=1)
    assert other.train.texts != task.train.texts


@needs_wordnet
def test_category_splits_share_no_word(task):
    train, valid, test = (set(s.lemmas) for s in (task.train, task.valid, task.test))
    assert not train & test and not train & valid and not valid & test
    assert not set(task.train.texts) & set(task.test.texts)


@needs_wordnet
def test_smaller_train_sets_are_prefixes_of_larger_ones(task):
    big = wordnet.load_category_task(per_class=200, seed=0)
    assert set(task.train.texts) <= set(big.train.texts)
    assert big.test == task.test


@needs_wordnet
def test_balanced_subset(task):
    sub = task.train.subset(40, seed=3)
    assert len(sub) == 40 and set(Counter(sub.labels).values()) == {5}
    with pytest.raises(ValueError, match="Cannot take"):
        task.train.subset(10_000)


@needs_wordnet
def test_pair_task_is_balanced_word_disjoint_and_correct():
    pairs = wordnet.load_pair_task(n_train=200, seed=0, n_valid=100, n_test=100)
    assert (len(pairs.train), len(pairs.valid), len(pairs.test)) == (200, 100, 100)
    assert sum(pairs.train.labels) == 100
    assert not set(pairs.train.words) & set(pairs.test.words)
    defs = {(s.words[0], s.gloss) for s in wordnet.noun_synsets()}
    for w, g, y in zip(pairs.train.words, pairs.train.glosses, pairs.train.labels):
        assert ((w, g) in defs) == bool(y)
    assert wordnet.load_pair_task(n_train=200, seed=0, n_valid=100, n_test=100).train == pairs.train


@needs_wordnet
def test_target_corpus_excludes_held_out_glosses(task):
    corpus = wordnet.target_corpus(task)
    lines = set(corpus.splitlines())
    assert len(lines) > 10_000
    assert not lines & set(task.test.texts) and not lines & set(task.valid.texts)


def test_general_corpus_is_deterministic_prose():
    text = corpus.general_corpus(max_chars=300_000)
    assert set(text) == {"train", "valid"}
    assert 200_000 < len(text["train"]) + len(text["valid"]) <= 300_000
    assert len(text["valid"]) > 0
    assert text == corpus.general_corpus(max_chars=300_000)
    assert "the" in tokenize(text["train"][:5000])


def test_missing_wordnet_gives_install_instructions(monkeypatch):
    def missing(name, *args, **kwargs):
        raise assets.AssetMissing(assets.missing_message(assets.asset(name)))

    monkeypatch.setattr(wordnet, "resolve", missing)
    with pytest.raises(assets.AssetMissing, match="apt-get install wordnet-base"):
        wordnet.load_category_task()


def test_wordnet_folder_without_data_file(monkeypatch, tmp_path):
    monkeypatch.setattr(wordnet, "resolve", lambda name, *a, **k: tmp_path)
    with pytest.raises(assets.AssetMissing, match="no data.noun"):
        wordnet.noun_synsets()


def test_tokenize():
    assert tokenize("A dog's life, 2 times.") == ["a", "dog", "'", "s", "life", ",", "2", "times", "."]


def test_vocab_round_trip_and_unknowns(tmp_path):
    tokens = [tokenize("the cat sat on the mat"), tokenize("the dog sat")]
    vocab = Vocab.build(tokens, max_size=7, min_freq=1)
    assert vocab.itos[:3] == ["<pad>", "<unk>", "<eos>"] and len(vocab) == 7
    assert vocab.itos[3:6] == ["the", "sat", "cat"]  # most frequent first, ties alphabetical
    ids = vocab.encode("the sat zebra")
    assert ids == [vocab.stoi["the"], vocab.stoi["sat"], vocab.unk_id]
    assert vocab.decode(ids + [vocab.pad_id]) == "the sat <unk>"
    vocab.save(tmp_path / "v.json")
    again = Vocab.load(tmp_path / "v.json")
    assert again.itos == vocab.itos and again.stoi == vocab.stoi
    assert Vocab.build(tokens, min_freq=2).itos[3:] == ["the", "sat"]


def test_vocab_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Vocab.load(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="must start with"):
        Vocab(["a", "b", "c"])


def test_pad_ids_cuts_pads_and_keeps_empty_rows():
    import torch

    x = pad_ids([[5, 6, 7], [8], []], pad_id=0, max_len=2)
    assert torch.equal(x, torch.tensor([[5, 6], [8, 0], [0, 0]]))
