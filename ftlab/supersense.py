"""Noun supersense tagging of WordNet glosses: a token-classification task (Ciaramita & Johnson 2003).

WordNet files every noun sense under one of 26 lexicographer files ("supersenses": noun.animal,
noun.artifact, ...). Tagging each word of running text with its supersense is a real sequence-labelling
task. Here the running text is WordNet's own glosses and the tags are derived automatically, so they are
*silver* labels, not hand annotation:

- a word is tagged when, after WordNet's noun lemmatisation rules (``morphy``: ``noun.exc`` and the
  suffix rules -s, -ses, -xes, -zes, -ches, -shes, -men, -ies), it is a WordNet noun, is not an English
  function word (scikit-learn's stop-word list), and is used as a noun at least as often as it is as a
  verb, adjective or adverb in WordNet's sense-tagged corpus counts (``index.*``: ``tagsense_cnt``);
- its tag is the supersense of its most frequent noun sense (the first offset ``index.noun`` lists);
- everything else is ``O``. Every tagged word is a one-word entity (``B-<supersense>``; WordNet's
  multi-word nouns are not joined), so the entity-level F1 of ``seqeval`` counts words.

The noise this leaves: the most frequent sense is not always the sense used in the gloss (*bank*), a
word that is mostly a verb is never tagged even where it is a noun, and a few stop words are nouns.

The glosses come from :func:`ftlab.wordnet.load_category_task`, so the splits are word-disjoint by the word
each gloss defines, as in the other text tasks.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ftlab.vocab import tokenize
from ftlab.wordnet import load_category_task, wordnet_dir

# lexicographer file numbers of WordNet 3.0 nouns (lexnames(5WN)) -> supersense names
NOUN_LEXNAMES = {
    3: "Tops", 4: "act", 5: "animal", 6: "artifact", 7: "attribute", 8: "body", 9: "cognition",
    10: "communication", 11: "event", 12: "feeling", 13: "food", 14: "group", 15: "location",
    16: "motive", 17: "object", 18: "person", 19: "phenomenon", 20: "plant", 21: "possession",
    22: "process", 23: "quantity", 24: "relation", 25: "shape", 26: "state", 27: "substance", 28: "time",
}
OUTSIDE = "O"
_SUFFIXES = (("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
             ("men", "man"), ("ies", "y"), ("s", ""))  # WordNet morphy's noun detachment rules


def _index(path: Path) -> dict[str, tuple[int, list[str]]]:
    """lemma -> (tagsense_cnt, synset offsets in frequency order) from an ``index.<pos>`` file."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):
                continue
            fields = line.split()
            n_synsets, n_pointers = int(fields[2]), int(fields[3])
            tagged = int(fields[5 + n_pointers])
            out[fields[0]] = (tagged, fields[6 + n_pointers: 6 + n_pointers + n_synsets])
    return out


@dataclass(frozen=True)
class Lexicon:
    """What the tagger needs to know of WordNet: noun lemmas, their supersense, the other POS counts."""

    supersense: dict[str, str]  # noun lemma -> supersense of its most frequent sense
    noun_count: dict[str, int]  # noun lemma -> tagged-sense count as a noun
    other_count: dict[str, int]  # lemma -> largest tagged-sense count as verb / adjective / adverb
    exceptions: dict[str, str]  # irregular plural -> lemma (noun.exc)

    def lemma(self, word: str) -> str | None:
        """The noun lemma of ``word`` (itself, an irregular plural's lemma, or a detached suffix), or None."""
        if word in self.supersense:
            return word
        if word in self.exceptions:
            return self.exceptions[word]
        for old, new in _SUFFIXES:
            if word.endswith(old) and (base := word[: len(word) - len(old)] + new) in self.supersense:
                return base
        return None

    def tag(self, word: str) -> str:
        """``B-<supersense>`` for a word used mainly as a noun, else ``O``."""
        if not word.isalpha() or word in _stop_words():
            return OUTSIDE
        lemma = self.lemma(word)
        if lemma is None:
            return OUTSIDE
        other = max(self.other_count.get(word, 0), self.other_count.get(lemma, 0))
        noun = self.noun_count[lemma]
        if noun < other or (noun == 0 and (word in self.other_count or lemma in self.other_count)):
            return OUTSIDE  # mostly (or equally, untagged) a verb / adjective / adverb
        return f"B-{self.supersense[lemma]}"


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def _lexicon(folder: Path) -> Lexicon:
    lexfile = {}
    with open(folder / "data.noun", encoding="utf-8") as f:
        for line in f:
            if not line.startswith("  "):
                offset, lex, _ = line.split(" ", 2)
                lexfile[offset] = int(lex)
    nouns = _index(folder / "index.noun")
    other: dict[str, int] = {}
    for pos in ("verb", "adj", "adv"):
        for lemma, (tagged, _) in _index(folder / f"index.{pos}").items():
            other[lemma] = max(other.get(lemma, 0), tagged)
    exceptions = {}
    with open(folder / "noun.exc", encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                exceptions[parts[0]] = parts[1]
    supersense = {lemma: NOUN_LEXNAMES[lexfile[offsets[0]]] for lemma, (_, offsets) in nouns.items()}
    return Lexicon(supersense, {k: v[0] for k, v in nouns.items()}, other,
                   {k: v for k, v in exceptions.items() if v in supersense})


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The WordNet lexicon of the tagger (read and checksummed once, about a second)."""
    return _lexicon(wordnet_dir())


def tag_words(words: list[str]) -> list[str]:
    """Silver supersense tags of lowercase words (``B-<supersense>`` or ``O``), one per word."""
    lex = lexicon()
    return [lex.tag(w) for w in words]


@dataclass
class TaggedSplit:
    """Sentences as word lists with one tag per word."""

    words: list[list[str]]
    tags: list[list[str]]

    def __len__(self) -> int:
        return len(self.words)

    def to_dataset(self, tag_names: list[str]):
        """A ``datasets.Dataset`` with columns ``words`` (list of str) and ``tags`` (list of tag ids)."""
        from datasets import Dataset

        index = {t: i for i, t in enumerate(tag_names)}
        return Dataset.from_dict({"words": self.words, "tags": [[index[t] for t in s] for s in self.tags]})


@dataclass
class SupersenseTask:
    """Supersense tagging of glosses, word-disjoint splits (by the word each gloss defines)."""

    train: TaggedSplit
    valid: TaggedSplit
    test: TaggedSplit
    tag_names: list[str]  # "O" first, then B-<supersense> by frequency in train


def load_supersense_task(per_class: int = 200, valid_per_class: int = 25, test_per_class: int = 60,
                         seed: int = 0, max_words: int = 24) -> SupersenseTask:
    """Glosses of the category task tagged word by word; sentences longer than ``max_words`` are cut
    (a gloss of more than 24 words is rare; the cut keeps batches short)."""
    if max_words < 1:
        raise ValueError(f"max_words must be at least 1, got {max_words}.")
    cat = load_category_task(per_class=per_class, seed=seed, valid_per_class=valid_per_class,
                             test_per_class=test_per_class)

    def split(texts: list[str]) -> TaggedSplit:
        words = [[w for w in tokenize(t) if w.strip()][:max_words] for t in texts]
        return TaggedSplit(words, [tag_words(ws) for ws in words])

    parts = {name: split(getattr(cat, name).texts) for name in ("train", "valid", "test")}
    counts = Counter(t for s in parts["train"].tags for t in s if t != OUTSIDE)
    every = {t for p in parts.values() for s in p.tags for t in s if t != OUTSIDE}
    names = [OUTSIDE] + [t for t, _ in counts.most_common()] + sorted(every - set(counts))
    return SupersenseTask(parts["train"], parts["valid"], parts["test"], names)


def align_labels(word_ids: list[int | None], word_labels: list[int]) -> list[int]:
    """Sub-token labels from word labels: the label on each word's first sub-token, -100 on the rest and
    on special tokens (``[CLS]``, ``[SEP]``, padding), which the loss then ignores."""
    out, previous = [], None
    for w in word_ids:
        out.append(-100 if w is None or w == previous else int(word_labels[w]))
        previous = w
    return out


def entity_f1(true: list[list[str]], pred: list[list[str]]) -> dict[str, float]:
    """Micro precision / recall / F1 over one-word entities (``B-x`` tags), written out: an entity counts as
    found when the same word carries the same tag. Equals ``seqeval`` on one-word entities."""
    if len(true) != len(pred) or any(len(t) != len(p) for t, p in zip(true, pred)):
        raise ValueError("true and pred must have the same sentences and lengths.")
    gold = {(i, j, t) for i, s in enumerate(true) for j, t in enumerate(s) if t != OUTSIDE}
    found = {(i, j, t) for i, s in enumerate(pred) for j, t in enumerate(s) if t != OUTSIDE}
    hit = len(gold & found)
    precision = hit / len(found) if found else 0.0
    recall = hit / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def bootstrap_f1_diff(true, pred_a, pred_b, n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """F1(a) - F1(b) on all sentences, and its standard error by a paired bootstrap over sentences."""
    rng = random.Random(seed)
    diff = entity_f1(true, pred_a)["f1"] - entity_f1(true, pred_b)["f1"]
    draws = []
    for _ in range(n):
        idx = [rng.randrange(len(true)) for _ in range(len(true))]
        t = [true[i] for i in idx]
        draws.append(entity_f1(t, [pred_a[i] for i in idx])["f1"] - entity_f1(t, [pred_b[i] for i in idx])["f1"])
    mean = sum(draws) / n
    se = (sum((d - mean) ** 2 for d in draws) / (n - 1)) ** 0.5
    return diff, se
