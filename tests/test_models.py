import pytest
import torch

from ftlab.assets import DATA_DIR, read_card, sha256
from ftlab.freeze import count_params
from ftlab.models import PocketCNN, layer_groups, pocket_cnn, replace_head


def test_pocket_checkpoint_matches_its_card():
    card = read_card(DATA_DIR / "pretrained" / "pocket_cnn.json")
    assert sha256(DATA_DIR / "pretrained" / "pocket_cnn.safetensors") == card["sha256"]
    assert card["metrics"]["source_test_acc"] > 0.8 and card["seed"] == 0


def test_pretrained_is_not_random_init():
    torch.manual_seed(0)
    pre, rand = pocket_cnn(), PocketCNN()
    assert not torch.equal(pre.body[0][0].weight, rand.body[0][0].weight)


def test_replace_head_reports_and_keeps_body(capsys):
    model = pocket_cnn()
    body = model.body[0][0].weight.clone()
    replace_head(model, 3)
    assert "dropped head.weight" in capsys.readouterr().out
    assert model(torch.rand(2, 1, 40, 40)).shape == (2, 3)
    assert torch.equal(model.body[0][0].weight, body)


def test_layer_groups_cover_every_parameter_once():
    model = PocketCNN()
    groups = layer_groups(model)
    assert len(groups) == 4 and groups[-1] is model.head
    assert sum(count_params(g, False) for g in groups) == count_params(model, False)


@pytest.mark.parametrize("bad, match", [(torch.rand(40, 40), "batch"), (torch.rand(2, 3, 40, 40), "channels"),
                                        (torch.zeros(2, 1, 40, 40, dtype=torch.uint8), "255")])
def test_wrong_images_get_a_helpful_error(bad, match):
    with pytest.raises(ValueError, match=match):
        PocketCNN()(bad)


def test_load_backbone_on_a_device_and_replace_head_keeps_it():
    from ftlab.models import load_backbone, replace_head

    model = load_backbone(device="meta", pretrained=False)  # any device but the CPU shows the rule
    replace_head(model, 3, verbose=False)
    assert {p.device.type for p in model.parameters()} == {"meta"}
