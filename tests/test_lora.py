"""Tests of ftlab.lora: behaviour on a table of tiny models, and parity with peft."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import pytest
import torch
from torch import nn

from ftlab.assets import ChecksumError
from ftlab.lora import (LoRALinear, count_trainable, disable_adapter, from_peft_state_dict,
                        inject_lora, lora_layers, lora_state_dict, load_lora, mark_only_lora_trainable,
                        merge_lora, save_lora, to_peft_state_dict, unload_lora, unmerge_lora)

torch.set_num_threads(1)
R, ALPHA = 4, 8


@dataclass
class Case:
    name: str
    build: Callable[[], nn.Module]
    targets: list[str]
    inputs: Callable[[], torch.Tensor]
    run: Callable[[nn.Module, torch.Tensor], torch.Tensor]


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))


def _bert() -> nn.Module:
    from transformers import BertConfig, BertModel
    cfg = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=32,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertModel(cfg)


CASES = [
    Case("mlp", _mlp, ["0", "2"], lambda: torch.randn(5, 6), lambda m, x: m(x)),
    Case("bert", _bert, ["query", "value"], lambda: torch.randint(0, 100, (2, 7)),
         lambda m, x: m(input_ids=x).last_hidden_state),
]
cases = pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])


def build(case: Case, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return case.build().eval()


def inputs(case: Case) -> torch.Tensor:
    torch.manual_seed(1)
    return case.inputs()


@torch.no_grad()
def randomise_adapters(model: nn.Module, seed: int = 2) -> None:
    """A trained adapter is not zero: give B (and A) random values so the update shows."""
    g = torch.Generator().manual_seed(seed)
    for layer in lora_layers(model).values():
        for w in (layer.lora_A.weight, layer.lora_B.weight):
            w.copy_(torch.randn(w.shape, generator=g) * 0.1)


def lora_model(case: Case) -> nn.Module:
    model = build(case)
    inject_lora(model, case.targets, r=R, alpha=ALPHA)
    randomise_adapters(model)
    return model


@cases
def test_fresh_adapter_leaves_outputs_unchanged(case):
    x, base = inputs(case), build(case)
    model = build(case)
    names = inject_lora(model, case.targets, r=R, alpha=ALPHA)
    assert names and all(isinstance(model.get_submodule(n), LoRALinear) for n in names)
    with torch.no_grad():
        assert torch.equal(case.run(model, x), case.run(base, x))


@cases
def test_parity_with_peft(case):
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    x, ours = inputs(case), lora_model(case)
    mark_only_lora_trainable(ours)
    ref = get_peft_model(build(case), LoraConfig(r=R, lora_alpha=ALPHA, target_modules=case.targets,
                                                 lora_dropout=0.0))
    loaded = set_peft_model_state_dict(ref, to_peft_state_dict(lora_state_dict(ours)))
    assert not loaded.unexpected_keys
    ref.eval()
    with torch.no_grad():
        assert torch.allclose(case.run(ours, x), case.run(ref, x), atol=1e-6)
    assert count_trainable(ours) == count_trainable(ref)
    # the conversion is exact both ways, and peft's live layout maps onto ours key for key
    back = from_peft_state_dict(get_peft_model_state_dict(ref))
    assert back.keys() == lora_state_dict(ours).keys()
    assert all(torch.equal(back[k], v) for k, v in lora_state_dict(ours).items())
    assert from_peft_state_dict(ref.state_dict()).keys() == ours.state_dict().keys()


@cases
def test_merge_unmerge_unload(case):
    x, model = inputs(case), lora_model(case)
    base_weights = {k: v.clone() for k, v in model.state_dict().items() if "base_layer" in k}
    with torch.no_grad():
        y = case.run(model, x)
        merge_lora(model)
        assert all(layer.merged for layer in lora_layers(model).values())
        assert torch.allclose(case.run(model, x), y, atol=1e-5)
        unmerge_lora(model)
        restored = {k: v for k, v in model.state_dict().items() if "base_layer" in k}
        assert all(torch.allclose(restored[k], v, atol=1e-6) for k, v in base_weights.items())
        names = list(lora_layers(model))
        plain = unload_lora(model)
        assert not lora_layers(plain)
        assert all(type(plain.get_submodule(n)) is nn.Linear for n in names)
        assert torch.allclose(case.run(plain, x), y, atol=1e-5)


@cases
def test_disable_adapter_serves_base_model(case):
    x, base, model = inputs(case), build(case), lora_model(case)
    with torch.no_grad():
        y, y_base = case.run(model, x), case.run(base, x)
        assert not torch.allclose(y, y_base)
        merge_lora(model)
        with disable_adapter(model):
            assert torch.allclose(case.run(model, x), y_base, atol=1e-5)
        assert all(layer.merged for layer in lora_layers(model).values())
        assert torch.allclose(case.run(model, x), y, atol=1e-5)


@cases
def test_training_step_changes_only_lora(case):
    x, model = inputs(case), lora_model(case)
    mark_only_lora_trainable(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    case.run(model, x).pow(2).mean().backward()
    opt.step()
    for k, v in model.state_dict().items():
        is_lora = ".lora_A." in k or ".lora_B." in k
        assert torch.equal(v, before[k]) != is_lora, k


def test_mark_only_lora_trainable_extra_and_bias():
    model = lora_model(CASES[0])
    lora_params = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    mark_only_lora_trainable(model)
    assert count_trainable(model)[0] == lora_params == R * (6 + 16) + R * (16 + 4)
    mark_only_lora_trainable(model, extra=["2.base_layer"])  # e.g. a classifier head
    assert count_trainable(model)[0] == lora_params + 16 * 4 + 4
    mark_only_lora_trainable(model, bias="all")
    assert count_trainable(model)[0] == lora_params + 16 + 4


@cases
def test_save_load_round_trip_and_corruption(case, tmp_path):
    x, model = inputs(case), lora_model(case)
    path = tmp_path / "adapter.safetensors"
    digest = save_lora(model, path)
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["sha256"] == digest and card["r"] == R and card["alpha"] == ALPHA
    assert card["target_modules"] == sorted(case.targets)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter.json", "adapter.safetensors"]

    fresh = load_lora(build(case), path)  # a bare base model: the card says what to wrap
    with torch.no_grad():
        assert torch.equal(case.run(fresh, x), case.run(model, x))

    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # one byte of tensor data: safetensors alone would load it happily
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="sha256"):
        load_lora(build(case), path)


@cases
def test_no_matching_target_is_a_helpful_error(case):
    model = build(case)
    with pytest.raises(ValueError, match="Linear layers include") as err:
        inject_lora(model, ["no_such_layer"])
    assert case.targets[0] in str(err.value)
    with pytest.raises(ValueError, match="regular expression"):
        inject_lora(model, "no_such_layer")  # a string is a full-name regex, as in peft
