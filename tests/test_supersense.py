"""The supersense tagging task: silver tags, sub-token label alignment, entity F1 (pinned values)."""
import pytest

from ftlab.supersense import OUTSIDE, align_labels, bootstrap_f1_diff, entity_f1, lexicon, tag_words


def test_tags_of_a_gloss():
    # "pet" is a noun (noun.animal); "domestic" is mostly an adjective; "a", "as" are function words;
    # "animal"'s most frequent sense is filed under noun.Tops; "kept" is not a noun
    assert tag_words("a domestic animal kept as a pet".split()) == [
        OUTSIDE, OUTSIDE, "B-Tops", OUTSIDE, OUTSIDE, OUTSIDE, "B-animal"]


def test_plurals_are_lemmatised_by_wordnet_rules():
    lex = lexicon()
    assert lex.lemma("flowers") == "flower" and lex.lemma("churches") == "church"
    assert lex.lemma("mice") == "mouse"  # noun.exc
    assert lex.lemma("qwzx") is None
    assert tag_words(["flowers", "mice"]) == ["B-plant", "B-animal"]


def test_align_labels_first_subtoken():
    # [CLS] w0 w1 w1 w2 [SEP]: the second piece of w1 and the special tokens get -100
    assert align_labels([None, 0, 1, 1, 2, None], [3, 0, 5]) == [-100, 3, 0, -100, 5, -100]


def test_entity_f1_by_hand_and_against_seqeval():
    true = [["B-animal", "O", "B-food"], ["O", "B-person"]]
    pred = [["B-animal", "B-food", "O"], ["O", "B-person"]]
    # gold 3 entities, predicted 3, 2 right: P = R = F1 = 2/3
    assert entity_f1(true, pred) == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})
    seqeval = pytest.importorskip("seqeval.metrics")
    assert entity_f1(true, pred)["f1"] == pytest.approx(seqeval.f1_score(true, pred))
    with pytest.raises(ValueError, match="same sentences"):
        entity_f1(true, pred[:1])


def test_bootstrap_f1_diff():
    true = [["B-a", "O"], ["B-b", "O"], ["B-a", "B-b"]] * 10
    good = [list(s) for s in true]
    bad = [["O", "O"]] * len(true)
    diff, se = bootstrap_f1_diff(true, good, bad, n=200)
    assert diff == pytest.approx(1.0) and se == pytest.approx(0.0, abs=1e-9)
