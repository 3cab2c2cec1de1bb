"""FCN: bilinear upsampler equals interpolation, output shape, frozen encoder stays frozen."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ftlab.fcn import FCN, bilinear_kernel, encoder_shape
from ftlab.models import PocketCNN


@pytest.mark.parametrize("stride", [2, 4, 8])
def test_bilinear_kernel_matches_interpolate_inside_the_border(stride):
    x = torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    up = F.conv_transpose2d(x, bilinear_kernel(3, 3, 2 * stride), stride=stride, padding=stride // 2)
    ref = F.interpolate(x, scale_factor=stride, mode="bilinear", align_corners=False)
    s = stride  # at the border the transposed conv sees zeros where interpolate repeats the edge
    assert up.shape == ref.shape and torch.allclose(up[..., s:-s, s:-s], ref[..., s:-s, s:-s], atol=1e-6)


def test_bilinear_kernel_keeps_channels_apart():
    w = bilinear_kernel(3, 3, 4)
    assert w.shape == (3, 3, 4, 4) and w[0, 1].abs().sum() == 0 and w[1, 1].max() == pytest.approx(0.5625)


def _pocket():
    torch.manual_seed(0)
    return PocketCNN()


def test_fcn_output_shape_and_construction_leaves_bn_stats_alone():
    backbone = _pocket()
    stats = {n: b.clone() for n, b in backbone.named_buffers()}
    assert encoder_shape(backbone) == (4, 128)
    model = FCN(backbone, num_classes=6)
    assert all(torch.equal(b, stats[n]) for n, b in backbone.named_buffers())
    assert model(torch.rand(2, 1, 48, 48)).shape == (2, 6, 48, 48)


def test_random_init_differs_and_bad_init_raises():
    assert not torch.equal(FCN(_pocket(), 6, upsample_init="random").upsample.weight, bilinear_kernel(6, 6, 8))
    assert torch.equal(FCN(_pocket(), 6).upsample.weight, bilinear_kernel(6, 6, 8))
    with pytest.raises(ValueError, match="upsample_init"):
        FCN(_pocket(), 6, upsample_init="zeros")


def test_frozen_encoder_keeps_weights_and_statistics():
    model = FCN(_pocket(), 6, freeze_encoder=True)
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    x, y = torch.rand(4, 1, 32, 32), torch.randint(0, 6, (4, 32, 32))
    F.cross_entropy(model(x), y).backward()
    opt.step()
    assert all(torch.equal(v, before[k]) for k, v in model.encoder.state_dict().items())
    assert not any(m.training for m in model.encoder.modules() if isinstance(m, nn.BatchNorm2d))
    assert model.classifier.training and model.classifier.weight.grad is not None
