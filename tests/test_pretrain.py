import subprocess
import sys

from ftlab.assets import load_checkpoint, read_card


def test_cnn_builder_smoke(tmp_path):
    """The builder runs end to end for a few steps and writes a checkpoint its card vouches for."""
    subprocess.run([sys.executable, "-m", "ftlab.pretrain", "cnn", "--steps", "3", "--out", str(tmp_path)],
                   check=True, capture_output=True)
    card = read_card(tmp_path / "pocket_cnn.json")
    assert card["steps"] == 3 and "classes [0, 1, 2, 3, 4]" in card["data"]
    assert "body.0.0.weight" in load_checkpoint(tmp_path / "pocket_cnn.safetensors")
