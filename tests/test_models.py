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


@pytest.mark.parametrize("bad, match", [(torch.rand(40, 40), "batch"), (torch.rand(2, 2, 40, 40), "channels"),
                                        (255 * torch.rand(2, 1, 40, 40), "divide 0-255 floats by 255"),
                                        (torch.zeros(2, 1, 40, 40, dtype=torch.int64), "uint8")])
def test_wrong_images_get_a_helpful_error(bad, match):
    with pytest.raises(ValueError, match=match):
        PocketCNN()(bad)


def test_load_backbone_on_a_device_and_replace_head_keeps_it():
    from ftlab.models import load_backbone, replace_head

    model = load_backbone(device="meta", pretrained=False)  # any device but the CPU shows the rule
    replace_head(model, 3, verbose=False)
    assert {p.device.type for p in model.parameters()} == {"meta"}


# --- one shape for every backbone: preprocess, body, head, forward_features ---------------------------

BACKBONE_CASES = [("pocket_cnn", True, 1, 40), ("efficientnet_lite0", True, 3, 64), ("resnet18", False, 3, 64),
                  ("pocket_vit", True, 1, 40), ("dinov2_small", True, 3, 28)]


@pytest.mark.parametrize("name, pretrained, channels, side", BACKBONE_CASES, ids=[c[0] for c in BACKBONE_CASES])
def test_every_backbone_has_the_common_shape(name, pretrained, channels, side):
    from ftlab.freeze import freeze_to
    from ftlab.models import load_backbone

    model = load_backbone(name=name, pretrained=pretrained, size=side).eval()
    x = torch.rand(2, channels, side, side)
    feats = model.forward_features(x)
    assert feats.shape == (2, model.head.in_features)
    with torch.no_grad():  # uint8 images are scaled by 1/255 inside preprocess
        assert torch.allclose(model((x * 255).round().to(torch.uint8)), model((x * 255).round() / 255), atol=1e-5)
    replace_head(model, 3, verbose=False)
    assert model(x).shape == (2, 3)
    groups = layer_groups(model)
    assert groups[-1] is model.head and len(groups) == 4
    assert sum(count_params(g, False) for g in groups) == count_params(model, False)
    freeze_to(groups, -1)
    assert count_params(model) == count_params(model.head)
    with pytest.raises(ValueError, match="divide 0-255 floats by 255"):
        model(255 * x)


def test_efficientnet_backbone_computes_what_the_imagenet_network_does():
    from ftlab import effnet
    from ftlab.models import load_backbone

    net = effnet.efficientnet_lite0()
    backbone = load_backbone("efficientnet_lite0", size=96).eval()
    x = torch.rand(2, 3, 96, 96)
    normalised = (x - 0.5) / 0.5  # the weights' own input scaling
    with torch.no_grad():
        assert torch.allclose(backbone(x), net(normalised), atol=1e-4)
    cat = torch.from_numpy(__import__("skimage").data.chelsea()[:, 75:375]).permute(2, 0, 1)[None]  # uint8 (1, 3, 300, 300)
    top = load_backbone("efficientnet_lite0").eval()(cat).argmax().item()
    assert top in effnet.CAT_CLASSES, effnet.imagenet_classes()[top]


def test_load_backbone_names():
    from ftlab.models import BACKBONES, load_backbone

    assert "efficientnet_lite0" in BACKBONES
    with pytest.raises(ValueError, match="choose one of"):
        load_backbone(name="vgg")
    model = load_backbone("efficientnet_lite0", num_classes=4, size=32, verbose=False)
    assert model.head.out_features == 4 and model.preprocess.size == 32
    assert load_backbone(3, verbose=False).head.out_features == 3  # a number first is num_classes


def test_a_backbone_exports_with_torch_export():
    # the value check on the input range must not stop torch.export (and so torch.onnx.export(dynamo=True))
    model = PocketCNN().eval()
    program = torch.export.export(model, (torch.rand(2, 1, 40, 40),))
    x = torch.rand(3, 1, 40, 40)
    assert torch.allclose(program.module()(x[:2]), model(x[:2]), atol=1e-5)
