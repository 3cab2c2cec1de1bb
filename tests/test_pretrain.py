import subprocess
import sys

import pytest

from ftlab.assets import DATA_DIR, load_checkpoint, read_card


@pytest.mark.parametrize("name, first_key", [("cnn", "body.0.0.weight"), ("vit", "body.0.cls_token")])
def test_builder_smoke(tmp_path, name, first_key):
    """The builder runs end to end for a few steps and writes a checkpoint its card vouches for."""
    subprocess.run([sys.executable, "-m", "ftlab.pretrain", name, "--steps", "3", "--out", str(tmp_path)],
                   check=True, capture_output=True)
    card = read_card(tmp_path / f"pocket_{name}.json")
    assert card["steps"] == 3 and "classes [0, 1, 2, 3, 4]" in card["data"]
    assert first_key in load_checkpoint(tmp_path / f"pocket_{name}.safetensors")


def test_pocket_cnn_is_really_pretrained_on_its_source_task():
    """Compute the source-test accuracy from the weights (a 1,000-image slice), not from the card."""
    from ftlab.data import source_task
    from ftlab.models import pocket_cnn, PocketCNN
    from ftlab.train import evaluate

    test = source_task("test", limit=1000)
    card = read_card(DATA_DIR / "pretrained" / "pocket_cnn.json")
    acc = evaluate(pocket_cnn(), test.loader(500))["acc"]
    chance = evaluate(PocketCNN(), test.loader(500))["acc"]
    assert abs(acc - card["metrics"]["source_test_acc"]) < 0.03, (acc, card["metrics"])
    assert acc > 0.85 and chance < 0.4, (acc, chance)
