"""ftlab.deploy: sizes, latency, zero counts and structured pruning on tiny seeded models."""
import gzip
import io

import pytest
import torch
from torch import nn

from ftlab.deploy import (Latency, count_zeros, linear_layers, linear_weight_bytes, measure_latency,
                          num_threads, prune_linear_pair, size_mb, state_dict_bytes, tensor_bytes)


def mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


def test_state_dict_bytes_matches_torch_save_and_gzip():
    m = mlp()
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    assert state_dict_bytes(m) == len(buf.getvalue())
    assert state_dict_bytes(m.state_dict()) == len(buf.getvalue())
    assert state_dict_bytes(m, compress=True) == len(gzip.compress(buf.getvalue(), compresslevel=6))
    assert set(size_mb(m)) == {"mb", "gzip_mb"}


def test_zeros_keep_dense_size_but_compress():
    m, z = mlp(), mlp()
    with torch.no_grad():
        for layer in z:
            if isinstance(layer, nn.Linear):
                layer.weight.zero_()
    assert state_dict_bytes(m) == state_dict_bytes(z)
    assert state_dict_bytes(z, compress=True) < state_dict_bytes(m, compress=True)


def test_linear_weight_bytes_and_count_zeros():
    m = mlp()
    assert linear_weight_bytes(m) == (8 * 16 + 16 * 4) * 4
    with torch.no_grad():
        m[0].weight[:2] = 0
    zeros, total = count_zeros([m[0], m[2]])
    assert (zeros, total) == (2 * 8, 8 * 16 + 16 * 4)
    assert [n for n, _ in linear_layers(m, exclude=("2",))] == ["0"]


def test_tensor_bytes_of_torchao_int8_weight():
    quant = pytest.importorskip("torchao.quantization")
    m = nn.Sequential(nn.Linear(64, 32))
    quant.quantize_(m, quant.Int8DynamicActivationInt8WeightConfig())
    b = tensor_bytes(m[0].weight)
    assert 64 * 32 <= b <= 64 * 32 + 32 * 8 + 64  # int8 data plus a scale (and zero point) per row
    assert linear_weight_bytes(m) == b


def test_measure_latency_counts_calls_and_restores_threads():
    calls = []
    before = torch.get_num_threads()
    lat = measure_latency(lambda: calls.append(torch.get_num_threads()), repeats=5, warmup=2, threads=1)
    assert isinstance(lat, Latency) and lat.repeats == 5 and len(calls) == 7
    assert set(calls) == {1} and torch.get_num_threads() == before
    assert 0 <= lat.fastest_ms <= lat.median_ms
    with pytest.raises(ValueError, match="repeats"):
        measure_latency(lambda: None, repeats=0)


def test_num_threads_restores_on_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), num_threads(1):
        raise RuntimeError
    assert torch.get_num_threads() == before


def test_prune_linear_pair_keeps_strongest_units_exactly():
    m = mlp()
    with torch.no_grad():  # make units 3 and 11 the two strongest
        m[0].weight[[3, 11]] *= 100
    x = torch.randn(5, 8)
    kept = prune_linear_pair(m, "0", "2", keep=2)
    assert kept.tolist() == [3, 11]
    assert (m[0].out_features, m[2].in_features) == (2, 2)
    ref = mlp()
    with torch.no_grad():
        ref[0].weight[[3, 11]] *= 100
    h = torch.relu(ref[0](x))[:, kept]
    torch.testing.assert_close(m(x), h @ ref[2].weight[:, kept].T + ref[2].bias)


def test_prune_linear_pair_fraction_nested_names_and_errors():
    block = nn.Module()
    block.ffn = nn.Module()
    block.ffn.up, block.ffn.down = nn.Linear(4, 10), nn.Linear(10, 4)
    prune_linear_pair(block, "ffn.up", "ffn.down", keep=0.5)
    assert block.ffn.up.weight.shape == (5, 4) and block.ffn.down.weight.shape == (4, 5)
    with pytest.raises(ValueError, match="keep"):
        prune_linear_pair(block, "ffn.up", "ffn.down", keep=0.0)
    with pytest.raises(ValueError, match="consecutive"):
        prune_linear_pair(mlp(), "0", "0", keep=1)
