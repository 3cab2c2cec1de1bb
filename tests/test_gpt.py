"""ftlab.gpt: the SFT and DPO losses on tiny tensors with pinned values (CS336 style), and the real loader."""
import math

import pytest
import torch
import torch.nn.functional as F

from ftlab.assets import AssetError, find_local
from ftlab.gpt import (chat_example, dpo_loss, encode_pairs, masked_sft_loss, perplexity, response_labels,
                       sequence_logprobs, shift_labels)


@pytest.fixture
def toy():
    torch.manual_seed(0)
    return torch.randn(2, 5, 7), torch.randint(0, 7, (2, 5))  # logits (B, T, V), input_ids (B, T)


def test_shift_labels_moves_targets_left_and_masks_padding():
    ids = torch.tensor([[5, 6, 7, 0], [1, 2, 0, 0]])
    att = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    assert shift_labels(ids, att).tolist() == [[6, 7, -100, -100], [2, -100, -100, -100]]


def test_response_labels_mask_the_prompt(toy):
    _, ids = toy
    assert ids.tolist() == [[1, 5, 3, 1, 0], [3, 0, 3, 5, 3]]
    assert response_labels(ids, [2, 3]).tolist() == [[-100, 3, 1, 0, -100], [-100, -100, 5, 3, -100]]


def test_masked_sft_loss_pinned(toy):
    logits, ids = toy
    labels = response_labels(ids, [2, 3])
    assert masked_sft_loss(logits, labels).item() == pytest.approx(2.455714, abs=1e-5)
    # the same as a plain cross-entropy over the 5 response targets
    keep = labels != -100
    plain = F.cross_entropy(logits[keep], labels[keep])
    assert masked_sft_loss(logits, labels).item() == pytest.approx(plain.item(), abs=1e-6)


def test_masked_sft_loss_ignores_prompt_logits(toy):
    logits, ids = toy
    labels = response_labels(ids, [2, 3])
    changed = logits.clone()
    changed[0, 0] += 10.0
    changed[1, :2] -= 3.0
    assert masked_sft_loss(changed, labels).item() == pytest.approx(masked_sft_loss(logits, labels).item())


def test_masked_sft_loss_errors(toy):
    logits, ids = toy
    with pytest.raises(ValueError, match="shift_labels"):
        masked_sft_loss(logits[:, :-1], ids)
    with pytest.raises(ValueError, match="nothing to learn"):
        masked_sft_loss(logits, torch.full_like(ids, -100))


def test_sequence_logprobs_pinned(toy):
    logits, ids = toy
    got = sequence_logprobs(logits, response_labels(ids, [2, 3]))
    assert got.tolist() == pytest.approx([-8.460922, -3.817648], abs=1e-5)


def test_dpo_loss_pinned():
    pc, pr = torch.tensor([-5.0, -8.0, -12.0]), torch.tensor([-9.0, -7.0, -12.5])
    rc, rr = torch.tensor([-6.0, -8.5, -11.0]), torch.tensor([-8.0, -7.5, -13.0])
    loss, chosen, rejected = dpo_loss(pc, pr, rc, rr, beta=0.5)
    assert loss.item() == pytest.approx(0.714427, abs=1e-5)
    assert chosen.tolist() == pytest.approx([0.5, 0.25, -0.5])
    assert rejected.tolist() == pytest.approx([-0.5, 0.25, 0.25])


def test_dpo_loss_is_ln2_at_the_reference_and_falls_with_the_margin():
    ref_c, ref_r = torch.tensor([-4.0, -7.0]), torch.tensor([-5.0, -6.0])
    assert dpo_loss(ref_c, ref_r, ref_c, ref_r)[0].item() == pytest.approx(math.log(2))
    better = dpo_loss(ref_c + 1.0, ref_r - 1.0, ref_c, ref_r)[0].item()
    assert better < math.log(2)
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(ref_c, ref_r, ref_c, ref_r, beta=0.0)


def test_dpo_loss_gradient_pushes_chosen_up_and_rejected_down():
    pc = torch.tensor([-5.0], requires_grad=True)
    pr = torch.tensor([-6.0], requires_grad=True)
    dpo_loss(pc, pr, torch.tensor([-5.0]), torch.tensor([-6.0]), beta=0.1)[0].backward()
    assert pc.grad.item() == pytest.approx(-0.05) and pr.grad.item() == pytest.approx(0.05)


def test_perplexity():
    assert perplexity(math.log(50.0)) == pytest.approx(50.0)


# --------------------------------------------------------------------------- the real model

@pytest.fixture(scope="module")
def lm():
    if find_local("smollm2", "pocket") is None:
        pytest.skip("SmolLM2 asset not present: python -m ftlab.assets check --fetch")
    from ftlab.gpt import load_causal_lm

    try:
        return load_causal_lm("cpu", profile_name="pocket")
    except AssetError as e:
        pytest.skip(str(e))


def test_loader_gives_a_working_fp32_model(lm):
    model, tok = lm
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert next(model.parameters()).dtype == torch.float32 and not model.training
    assert getattr(model, "hf_quantizer", None) is None
    enc = tok("The capital of France is", return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=3, do_sample=False)
    assert "Paris" in tok.decode(out[0, enc["input_ids"].shape[1]:])


def test_our_next_token_loss_equals_transformers(lm):
    model, tok = lm
    enc = tok(["A dog is a domesticated mammal.", "A cat."], return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = model(**enc).logits
        ours = masked_sft_loss(logits, shift_labels(enc["input_ids"], enc["attention_mask"]))
        hf_labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        theirs = model(**enc, labels=hf_labels).loss
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-4)


def test_chat_example_and_encode_pairs_mask_exactly_the_prompt(lm):
    _, tok = lm
    prompt, response = chat_example(tok, "Define 'dog'.", "a domestic animal", system="Answer briefly.")
    assert prompt.endswith("<|im_start|>assistant\n") and response.startswith("a domestic animal<|im_end|>")
    b = encode_pairs(tok, [prompt], [response])
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    targets = b["labels"][0][b["labels"][0] != -100]
    assert tok.decode(targets).startswith("a domestic animal<|im_end|>")
    assert (b["labels"][0, : n_prompt - 1] == -100).all() and b["labels"][0, n_prompt - 1] != -100
    unmasked = encode_pairs(tok, [prompt], [response], mask_prompt=False)
    assert (unmasked["labels"][0, :-1] != -100).all()
