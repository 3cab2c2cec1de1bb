"""WordNet tasks: a gloss -> its lexicographer category, and word-gloss matching.

The target tasks of the text lessons are built from WordNet 3.0 (Miller 1995; Fellbaum 1998), read
straight from its database file ``data.noun`` (no nltk needed offline):

- the *category task*: a noun's gloss -> its lexicographer category (noun.animal, noun.food, ...);
- the *pair task*: does this gloss define this word? (half the negatives come from the same
  category, so the model must read the gloss, not just its topic).

Splits never share a word: synsets that share any word (or an identical gloss) are joined into
one group, and each group goes wholly to train, valid or test. So a test score measures
generalisation to unseen words, not recall of memorised ones. ``target_corpus`` gives the
unlabelled glosses outside valid/test, the target domain of language-model fine-tuning.
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ftlab.assets import AssetMissing, resolve

# Lexicographer file numbers of WordNet 3.0 nouns (see lexnames(5WN)) -> short class names.
_LEXFILES = {"05": "animal", "06": "artifact", "08": "body", "13": "food",
             "15": "location", "18": "person", "20": "plant", "27": "substance"}
CATEGORIES: tuple[str, ...] = tuple(f"noun.{name}" for name in _LEXFILES.values())
SPLIT_FRACTIONS = {"train": 0.75, "valid": 0.10, "test": 0.15}  # of word groups, before balancing

# --------------------------------------------------------------------------- WordNet

@dataclass(frozen=True)
class Synset:
    """One WordNet noun synset: its words, lexicographer category and definition."""

    offset: str
    category: str  # short name, e.g. "animal"
    words: tuple[str, ...]  # lowercase, spaces instead of underscores
    gloss: str  # the definition, without the quoted usage examples


def wordnet_dir() -> Path:
    """Folder holding WordNet's ``data.noun`` (Debian wordnet-base, the ftlab cache or NLTK)."""
    path = Path(resolve("wordnet"))
    if not (path / "data.noun").exists():
        raise AssetMissing(f"WordNet was found at {path} but has no data.noun file. Install the "
                           "Debian package with `sudo apt-get install wordnet-base`, or delete "
                           f"{path} and run once online so NLTK downloads it again.")
    return path


def _parse_line(line: str) -> Synset | None:
    head, _, gloss = line.partition(" | ")
    fields = head.split()  # offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] ...
    if fields[1] not in _LEXFILES:
        return None
    n_words = int(fields[3], 16)
    words = tuple(fields[4 + 2 * i].replace("_", " ").lower() for i in range(n_words))
    definition = gloss.strip().split('; "')[0].strip().rstrip(";").strip()
    return Synset(fields[0], _LEXFILES[fields[1]], words, definition)


@lru_cache(maxsize=4)
def _read_synsets(path: Path) -> tuple[Synset, ...]:
    out = []
    with open(path / "data.noun", encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):  # the licence header
                continue
            s = _parse_line(line)
            if s is not None and len(s.gloss.split()) >= 3:  # skip stubs like "a genus"
                out.append(s)
    return tuple(out)


def noun_synsets() -> tuple[Synset, ...]:
    """Every noun synset of :data:`CATEGORIES` with a definition of at least 3 words."""
    return _read_synsets(wordnet_dir())


def _groups(synsets: Sequence[Synset]) -> list[int]:
    """A group id per synset: synsets sharing a word or a gloss are in the same group."""
    parent = list(range(len(synsets)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, s in enumerate(synsets):
        for key in (*s.words, "gloss:" + s.gloss):
            j = first.setdefault(key, i)
            parent[find(i)] = find(j)
    return [find(i) for i in range(len(synsets))]


def _split_of(synsets: Sequence[Synset], seed: int) -> dict[str, list[Synset]]:
    """Synsets of each split; whole word groups are drawn at random, the biggest goes to train."""
    groups = _groups(synsets)
    biggest = Counter(groups).most_common(1)[0][0]  # a large polysemy cluster: keep it in train
    rng = random.Random(seed)
    names, weights = list(SPLIT_FRACTIONS), list(SPLIT_FRACTIONS.values())
    assign = {g: rng.choices(names, weights)[0] for g in sorted(set(groups))}
    assign[biggest] = "train"
    out: dict[str, list[Synset]] = {name: [] for name in names}
    for s, g in zip(synsets, groups):
        out[assign[g]].append(s)
    return out


def _by_class(synsets: Iterable[Synset], classes: Sequence[str], seed: int) -> dict[str, list[Synset]]:
    """Synsets per class, shuffled deterministically (so smaller samples are prefixes of larger)."""
    pools: dict[str, list[Synset]] = {c: [] for c in classes}
    for s in synsets:
        pools[s.category].append(s)
    for c in classes:
        random.Random(f"{seed}/{c}").shuffle(pools[c])
    return pools


# --------------------------------------------------------------------------- category task

@dataclass
class TextSplit:
    """Texts (glosses) with integer labels and the word each gloss defines."""

    texts: list[str]
    labels: list[int]
    lemmas: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, n: int, seed: int = 0) -> TextSplit:
        """A class-balanced subset of ``n`` examples (as balanced as ``n`` allows)."""
        return TextSplit(*_balanced_take(self.texts, self.labels, self.lemmas, n=n, seed=seed))

    def to_dataset(self, classes: Sequence[str] | None = None):
        """The split as a ``datasets.Dataset`` with columns ``text``, ``label`` (a ``ClassLabel`` when ``classes``
        names the labels) and ``lemma``, e.g. to tokenise with ``Dataset.map(..., batched=True)``."""
        from datasets import ClassLabel, Dataset, Features, Value

        label = ClassLabel(names=list(classes)) if classes is not None else Value("int64")
        features = Features({"text": Value("string"), "label": label, "lemma": Value("string")})
        return Dataset.from_dict({"text": list(self.texts), "label": list(self.labels), "lemma": list(self.lemmas)},
                                 features=features)


def _balanced_take(texts, labels, lemmas, n: int, seed: int) -> tuple[list, list, list]:
    if not 0 < n <= len(labels):
        raise ValueError(f"Cannot take {n} examples from a split of {len(labels)}; "
                         f"choose 1 <= n <= {len(labels)}.")
    order = list(range(len(labels)))
    random.Random(seed).shuffle(order)
    classes = sorted(set(labels))
    per = {c: [i for i in order if labels[i] == c] for c in classes}
    picked = [idx for rank in range(len(order)) for c in classes
              if rank < len(per[c]) for idx in [per[c][rank]]][:n]  # round-robin over classes
    picked.sort()
    return [texts[i] for i in picked], [labels[i] for i in picked], [lemmas[i] for i in picked]


@dataclass
class CategoryTask:
    """Gloss -> lexicographer category, with word-disjoint train/valid/test splits."""

    train: TextSplit
    valid: TextSplit
    test: TextSplit
    classes: list[str]
    seed: int


def _text_split(rows: list[tuple[Synset, int]]) -> TextSplit:
    return TextSplit([s.gloss for s, _ in rows], [y for _, y in rows], [s.words[0] for s, _ in rows])


def _take_balanced(pools: dict[str, list[Synset]], classes: list[str], n: int, split: str) -> TextSplit:
    short = {c: len(pools[c]) for c in classes if len(pools[c]) < n}
    if short:
        raise ValueError(f"The {split} split has only {short} synsets in some classes but {n} per "
                         f"class were asked for; lower per_class (or use another seed).")
    rows = [(s, y) for y, c in enumerate(classes) for s in pools[c][:n]]
    random.Random(f"rows/{split}").shuffle(rows)  # mix the classes, always the same way
    return _text_split(rows)


def load_category_task(per_class: int = 300, seed: int = 0, valid_per_class: int = 50,
                       test_per_class: int = 100) -> CategoryTask:
    """The WordNet category task: balanced, deterministic from ``seed``, no word in two splits."""
    classes = [c.removeprefix("noun.") for c in CATEGORIES]
    parts = _split_of(noun_synsets(), seed)
    sizes = {"train": per_class, "valid": valid_per_class, "test": test_per_class}
    splits = {name: _take_balanced(_by_class(parts[name], classes, seed), classes, n, name)
              for name, n in sizes.items()}
    return CategoryTask(splits["train"], splits["valid"], splits["test"], classes, seed)


# --------------------------------------------------------------------------- pair task

@dataclass
class PairSplit:
    """(word, gloss) pairs; label 1 if the gloss defines the word."""

    words: list[str]
    glosses: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.words)


@dataclass
class PairTask:
    """Word-gloss matching with word-disjoint train/valid/test splits."""

    train: PairSplit
    valid: PairSplit
    test: PairSplit
    seed: int


def _negative(s: Synset, pool: dict[str, list[Synset]], hard: bool, rng: random.Random) -> Synset:
    """A synset whose gloss does not define ``s``'s word: same category if ``hard``."""
    cats = [s.category] if hard else [c for c in pool if c != s.category]
    while True:
        other = rng.choice(pool[rng.choice(cats)])
        if s.words[0] not in other.words and other.gloss != s.gloss:
            return other


def _pairs(synsets: list[Synset], n_pairs: int, seed: int, split: str) -> PairSplit:
    """``n_pairs`` pairs: each sampled word once with its own gloss and once with another."""
    n_words = n_pairs // 2
    if n_words > len(synsets) or n_words < 1:
        raise ValueError(f"The {split} split has {len(synsets)} synsets; cannot build {n_pairs} "
                         "pairs. Ask for fewer pairs.")
    rng = random.Random(f"pairs/{seed}/{split}")
    pool = _by_class(synsets, [c.removeprefix("noun.") for c in CATEGORIES], seed)
    rows = []
    for k, s in enumerate(rng.sample(synsets, n_words)):
        rows.append((s.words[0], s.gloss, 1))
        rows.append((s.words[0], _negative(s, pool, hard=k % 2 == 0, rng=rng).gloss, 0))
    rng.shuffle(rows)
    return PairSplit([w for w, _, _ in rows], [g for _, g, _ in rows], [y for _, _, y in rows])


def load_pair_task(n_train: int = 2000, seed: int = 0, n_valid: int = 400, n_test: int = 1000) -> PairTask:
    """Word-gloss matching: balanced, half the negatives from the same category, word-disjoint."""
    parts = _split_of(noun_synsets(), seed)
    sizes = {"train": n_train, "valid": n_valid, "test": n_test}
    splits = {name: _pairs(parts[name], n, seed, name) for name, n in sizes.items()}
    return PairTask(splits["train"], splits["valid"], splits["test"], seed)


# --------------------------------------------------------------------------- unlabelled target text

def target_corpus(task: CategoryTask) -> str:
    """Unlabelled target-domain text: every gloss of the task's categories outside valid/test."""
    held_out = set(task.valid.texts) | set(task.test.texts)
    parts = _split_of(noun_synsets(), task.seed)
    glosses = [s.gloss for s in parts["train"] if s.gloss not in held_out]
    return "\n".join(dict.fromkeys(glosses))  # dict.fromkeys: drop repeats, keep order
