"""The pocket LSTM language model: committed files match their card; the builder runs."""
import json

from ftlab import assets
from ftlab.pretrain import lstm_lm
from ftlab.vocab import Vocab

PRETRAINED = assets.DATA_DIR / "pretrained"


def test_committed_checkpoint_matches_its_card():
    card = assets.read_card(PRETRAINED / "lstm_lm.json")
    assert assets.sha256(PRETRAINED / "lstm_lm.safetensors") == card["sha256"]
    assert assets.sha256(PRETRAINED / "lstm_lm.vocab.json") == card["vocab_sha256"]
    assert (PRETRAINED / "lstm_lm.safetensors").stat().st_size < 15e6


def test_load_gives_a_working_model():
    model, vocab, card = lstm_lm.load()
    assert len(vocab) == card["vocab_size"] == model.cfg.vocab_size
    assert model.decoder.weight is model.encoder.embed.weight
    assert card["metrics"]["valid_perplexity"] < 200


def test_builder_smoke(tmp_path):
    card = lstm_lm.build(steps=3, out_dir=tmp_path)
    assert card["steps"] == 3
    saved = json.loads((tmp_path / "lstm_lm.json").read_text())
    assert saved["sha256"] == assets.sha256(tmp_path / "lstm_lm.safetensors")
    assert len(Vocab.load(tmp_path / "lstm_lm.vocab.json")) == saved["vocab_size"]


def test_lstm_lm_perplexity_computed_from_the_weights():
    """Held-out perplexity on a slice of the general corpus's validation text, computed now, not read off the card."""
    import torch

    from ftlab.awd_lstm import LanguageModel, perplexity
    from ftlab.lm_data import encode_stream, lm_batches

    model, vocab, card = lstm_lm.load()
    valid = lstm_lm.source_corpus("pocket")["valid"]
    batches = lm_batches(encode_stream(lstm_lm.paragraphs(valid), vocab), 16, 70)[:12]
    ppl = perplexity(model, batches)
    torch.manual_seed(0)
    fresh = perplexity(LanguageModel(model.cfg), batches)
    assert ppl < 1.3 * card["metrics"]["valid_perplexity"], (ppl, card["metrics"])
    assert ppl < 0.2 * fresh, (ppl, fresh)  # a random network is far worse than the pretrained one
