"""GGUF sizing: ggml block sizes and the per-tensor type rules llama.cpp and Ollama apply to each file type.

A GGUF "file type" such as Q4_K_M is a mix: `llama-quantize` picks a ggml type per tensor. The rules below
follow llama.cpp `src/llama-quant.cpp` (`tensor_allows_quantization`, `llama_tensor_get_type_impl`,
`tensor_type_fallback`, `llama_ftype_get_default_type`; ggml-org/llama.cpp @007dbbf) and Ollama's port of them
(`server/quantization.go`, ollama/ollama @1e95ab3). Block sizes are ggml's type table (ggml/src/ggml-common.h).

Rules that matter for the sizes (see `tensor_type`):
- Only tensors with >= 2 dims whose name ends in "weight" are quantised; norms, the MoE router (`ffn_gate_inp`,
  written as F32 by convert_hf_to_gguf.py), `per_layer_model_proj`, AltUp/LAuReL tensors stay as converted.
- Output tensor, and the token embedding when it is tied to the output: Q6_K for every mix that is not Q8_0
  (Q8_0 if its row length is not a multiple of the default type's block), Q5_K for the IQ1/IQ2 mixes, Q8_0 for
  MXFP4_MOE. In current llama.cpp the PLE table `per_layer_token_embd` counts as a token embedding and, in a
  tied model such as Gemma, takes the same output rule (Q6_K); before the tensor-category refactor it stayed
  at the mix's default type (`rules="legacy"`). Ollama does not quantise the PLE table at all (it ships it in
  the converted 16-bit type) and never quantises vision (`v.`) or projector (`mm.`) tensors.
- attn_v (and fused attn_qkv): Q4_K_M / Q5_K_M give Q6_K to the layers `use_more_bits` selects (first and last
  eighth, every third in between, counted over the attn_v tensors that exist); Q3_K_M gives Q5_K to the first
  two and Q4_K to the rest; Q3_K_L Q5_K; Q2_K Q4_K if n_head/n_head_kv >= 4 else Q3_K; 8-expert models Q8_0.
- ffn_down: Q4_K_M / Q5_K_M Q6_K on `use_more_bits` layers; Q3_K_M Q5_K for the first sixteenth, then Q4_K;
  Q4_K_S Q5_K for the first eighth; Q2_K Q3_K.
- attn_output: Q3_K_M Q4_K, Q3_K_L Q5_K, Q2_K Q3_K; 8-expert models Q5_K for the K-mixes.
- MXFP4_MOE: 3-D expert tensors MXFP4, everything else Q8_0.
- Fallback when the row length is not a multiple of the block (256 for K-quants; Gemma's 2112 and 704 FFN
  widths, the 640/1152 hidden sizes of Gemma 3 270M/1B): Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0,
  Q2_K/Q3_K -> Q4_0, IQ* -> IQ4_NL, and F16 if even the 32-block type does not divide it.
The file size that `llama-bench` and the loader print ("size") is the sum of the tensors' bytes; vision and
audio encoders live in a separate mmproj file (F16 by default) for llama.cpp.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from calculators.tensors import TensorSpec, cached_per_model, text_tensors
from model_specs.schema import ModelSpec

# ggml type -> (weights per block, bytes per block). ggml/src/ggml-common.h block structs.
GGML_TYPES: dict[str, tuple[int, int]] = {
    "F32": (1, 4),
    "F16": (1, 2),
    "BF16": (1, 2),
    "Q4_0": (32, 18),
    "Q4_1": (32, 20),
    "Q5_0": (32, 22),
    "Q5_1": (32, 24),
    "Q8_0": (32, 34),
    "Q2_K": (256, 84),
    "Q3_K": (256, 110),
    "Q4_K": (256, 144),
    "Q5_K": (256, 176),
    "Q6_K": (256, 210),
    "Q8_K": (256, 292),
    "IQ2_XXS": (256, 66),
    "IQ2_XS": (256, 74),
    "IQ2_S": (256, 82),
    "IQ3_XXS": (256, 98),
    "IQ3_S": (256, 110),
    "IQ1_S": (256, 50),
    "IQ1_M": (256, 56),
    "IQ4_NL": (32, 18),
    "IQ4_XS": (256, 136),
    "TQ1_0": (256, 54),
    "TQ2_0": (256, 66),
    "MXFP4": (32, 17),
    "NVFP4": (64, 36),
    "Q1_0": (128, 18),
    "Q2_0": (64, 18),
}

# File type (mix) -> default tensor type (llama_ftype_get_default_type).
FTYPE_DEFAULT: dict[str, str] = {
    "F32": "F32",
    "F16": "F16",
    "BF16": "BF16",
    "Q4_0": "Q4_0",
    "Q4_1": "Q4_1",
    "Q5_0": "Q5_0",
    "Q5_1": "Q5_1",
    "Q8_0": "Q8_0",
    "Q2_K": "Q2_K",
    "Q2_K_S": "Q2_K",
    "Q3_K_S": "Q3_K",
    "Q3_K_M": "Q3_K",
    "Q3_K_L": "Q3_K",
    "Q4_K_S": "Q4_K",
    "Q4_K_M": "Q4_K",
    "Q5_K_S": "Q5_K",
    "Q5_K_M": "Q5_K",
    "Q6_K": "Q6_K",
    "IQ1_S": "IQ1_S",
    "IQ1_M": "IQ1_M",
    "IQ2_XXS": "IQ2_XXS",
    "IQ2_XS": "IQ2_XS",
    "IQ2_S": "IQ2_XS",
    "IQ2_M": "IQ2_S",
    "IQ3_XXS": "IQ3_XXS",
    "IQ3_XS": "IQ3_S",
    "IQ3_S": "IQ3_S",
    "IQ3_M": "IQ3_S",
    "IQ4_NL": "IQ4_NL",
    "IQ4_XS": "IQ4_XS",
    "TQ1_0": "TQ1_0",
    "TQ2_0": "TQ2_0",
    "MXFP4_MOE": "MXFP4",
    "NVFP4": "NVFP4",
}
FTYPES = tuple(FTYPE_DEFAULT)
# Aliases people type for the same mixes.
FTYPE_ALIASES = {"Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M", "Q3_K": "Q3_K_M", "MXFP4": "MXFP4_MOE", "FP16": "F16"}
# Mixes Ollama's `ollama create --quantize` accepts (server/quantization.go and fs/ggml/type.go).
OLLAMA_FTYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_K_S", "Q4_K_M")

_IQ12 = {"IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ1_S", "IQ1_M"}
_FALLBACK = {
    "IQ1_S": "IQ4_NL",
    "IQ1_M": "IQ4_NL",
    "IQ2_XXS": "IQ4_NL",
    "IQ2_XS": "IQ4_NL",
    "IQ2_S": "IQ4_NL",
    "IQ3_XXS": "IQ4_NL",
    "IQ3_S": "IQ4_NL",
    "IQ4_XS": "IQ4_NL",
    "Q2_0": "Q4_0",
    "Q2_K": "Q4_0",
    "Q3_K": "Q4_0",
    "TQ1_0": "Q4_0",
    "TQ2_0": "Q4_0",
    "Q4_K": "Q5_0",
    "Q5_K": "Q5_1",
    "Q6_K": "Q8_0",
}
# Tensors the converter always writes as F32 (convert_hf_to_gguf.py prepare_tensors): the MoE router and
# 1-D tensors (norms, biases, scales).
_F32_KINDS = {"ffn_gate_inp", "norm", "bias", "other"}
# 2-D tensors llama-quantize leaves in the converted 16-bit type.
_KEEP_KINDS = {"per_layer_model_proj", "other_matrix"}

Rules = Literal["current", "legacy"]
Packager = Literal["llama.cpp", "ollama"]


def normalize_ftype(name: str) -> str:
    """Canonical GGUF file-type name ('q4_k_m' -> 'Q4_K_M'); ValueError for unknown names."""
    key = name.strip().upper().replace("-", "_")
    key = FTYPE_ALIASES.get(key, key)
    if key not in FTYPE_DEFAULT:
        raise ValueError(f"unknown GGUF type '{name}' (known: {', '.join(FTYPES)})")
    return key


def is_gguf_ftype(name: str) -> bool:
    """Whether `name` is a GGUF file type (or an alias of one)."""
    try:
        normalize_ftype(name)
    except ValueError:
        return False
    return True


def row_bytes(gtype: str, n: int) -> int:
    """Bytes of one row of n weights in ggml type gtype (n must be a multiple of the block)."""
    blk, size = GGML_TYPES[gtype]
    return n // blk * size


def tensor_bytes(ts: TensorSpec, gtype: str) -> int:
    """ggml_nbytes of a contiguous tensor: rows x row size."""
    rows = ts.n_params // ts.row_length
    return rows * row_bytes(gtype, ts.row_length)


def use_more_bits(i_layer: int, n_layers: int) -> bool:
    """llama.cpp's layer selector for the extra-bits tensors of the _M mixes."""
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


@dataclass(frozen=True)
class ModelQuantInfo:
    """Model-level facts the type rules read (hparams in llama.cpp)."""

    n_layers: int
    n_gqa: int  # n_head / n_head_kv of layer 0
    n_expert: int  # 0 or 1 for dense models
    tied_output: bool
    is_70b: bool  # llama.cpp's LLM_TYPE_70B gets attn_v Q5_K in the Q3/Q4_K mixes


def _fallback(gtype: str, ncols: int, src_type: str) -> str:
    blk = GGML_TYPES[gtype][0]
    if ncols % blk == 0:
        return gtype
    fb = _FALLBACK.get(gtype)
    if fb is None:  # llama.cpp throws here; the converted type is what a user would end up with
        return src_type
    if ncols % GGML_TYPES[fb][0] != 0:
        return "F16"
    return fb


def _v_kinds(rules: Rules, packager: Packager) -> tuple[str, ...]:
    """Tensor roles the attn_v counter (`use_more_bits` over i_attn_v / n_attn_v) runs over."""
    return ("attn_v", "attn_qkv") if packager == "ollama" or rules == "current" else ("attn_v",)


def _quantizable(ts: TensorSpec, packager: Packager) -> bool:
    if ts.n_dims < 2 or ts.kind in _F32_KINDS or ts.kind in _KEEP_KINDS:
        return False
    if packager == "ollama" and ts.kind == "per_layer_token_embd":
        return False
    return ts.name.endswith("weight")


def tensor_type(
    ts: TensorSpec,
    ftype: str,
    info: ModelQuantInfo,
    counters: dict[str, int],
    *,
    imatrix: bool = False,
    rules: Rules = "current",
    packager: Packager = "llama.cpp",
    src_type: str = "BF16",
    token_embedding_type: str | None = None,
    output_tensor_type: str | None = None,
) -> str:
    """The ggml type one tensor gets in a file of type `ftype`; `counters` carries the running attn_v index."""
    if not _quantizable(ts, packager):
        if ts.kind in _F32_KINDS or ts.n_dims < 2:
            return "F32"
        return src_type
    default = FTYPE_DEFAULT[ftype]
    if default in ("F32", "F16", "BF16"):
        return default
    is_output = ts.kind == "output"
    is_embd = ts.kind == "token_embd" or (ts.kind == "per_layer_token_embd" and rules == "current")
    if token_embedding_type and ts.kind in ("token_embd", "per_layer_token_embd"):
        return token_embedding_type
    if output_tensor_type and (is_output or (info.tied_output and ts.kind == "token_embd")):
        return output_tensor_type
    if packager == "ollama":
        new = _ollama_type(ts, ftype, default, info, counters)
    else:
        new = _llama_cpp_type(ts, ftype, default, info, counters, imatrix, rules, is_output, is_embd)
    return _fallback(new, ts.row_length, src_type)


def _llama_cpp_type(
    ts: TensorSpec,
    ftype: str,
    default: str,
    info: ModelQuantInfo,
    counters: dict[str, int],
    imatrix: bool,
    rules: Rules,
    is_output: bool,
    is_embd: bool,
) -> str:
    """llama.cpp's llama_tensor_get_type (src/llama-quant.cpp): the mix's default or the rule the tensor's role gets."""
    if is_output or (info.tied_output and is_embd):
        return _output_type(ts, ftype, default)
    if ftype == "MXFP4_MOE":
        return "MXFP4" if ts.n_dims == 3 else "Q8_0"
    if is_embd:
        return _EMBD_TYPES.get(ftype, default)
    attn_v_like = ts.kind == "attn_v" or (ts.kind == "attn_qkv" and rules == "current")
    if ftype in _IQ12:
        return _iq12_type(ts, ftype, default, info, counters, attn_v_like)
    if attn_v_like:
        return _attn_v_type(ftype, default, info, counters, imatrix)
    if ts.kind.startswith("ffn_down"):
        return _ffn_down_type(ts, ftype, default, info, imatrix)
    return _other_type(ts, ftype, default, info)


# token_embd under the low-bit mixes (the others keep the mix's default)
_EMBD_TYPES = {
    **dict.fromkeys(("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M"), "Q2_K"),
    **dict.fromkeys(("IQ2_S", "IQ2_M", "IQ3_XXS"), "IQ3_S"),
    **dict.fromkeys(("TQ1_0", "TQ2_0", "Q2_0"), "Q4_K"),
}
# attn_output of 8-expert models in these mixes
_MOE8_ATTN_OUTPUT_MIXES = {
    "Q2_K", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ3_S", "IQ3_M", "IQ4_XS",
}  # fmt: skip


def _output_type(ts: TensorSpec, ftype: str, default: str) -> str:
    """The output head (or a tied token_embd)."""
    if ftype == "MXFP4_MOE" or ts.row_length % GGML_TYPES[default][0] != 0:
        return "Q8_0"
    if ftype in _IQ12:
        return "Q5_K"
    return default if default == "Q8_0" else "Q6_K"


def _iq12_type(
    ts: TensorSpec, ftype: str, default: str, info: ModelQuantInfo, counters: dict[str, int], attn_v_like: bool
) -> str:
    """The 1- and 2-bit IQ mixes."""
    kind, n_expert = ts.kind, info.n_expert
    if attn_v_like:
        counters["attn_v"] += 1
        if info.n_gqa >= 4 or n_expert >= 4:
            return "Q4_K"
        return "IQ3_S" if ftype in ("IQ2_S", "IQ2_M") else "Q2_K"
    if n_expert == 8 and kind == "attn_k":
        return "Q4_K"
    if kind.startswith("ffn_down"):
        if ts.layer is not None and ts.layer < info.n_layers // 8:
            return "IQ3_S" if ftype in ("IQ2_S", "IQ2_M") else "Q2_K"
        return default
    if kind == "attn_output":
        if n_expert == 8:
            return "Q5_K"
        if ftype in ("IQ1_S", "IQ1_M"):
            return "IQ2_XXS"
        if ftype in ("IQ2_S", "IQ2_M"):
            return "IQ3_S"
    return default


def _attn_v_type(ftype: str, default: str, info: ModelQuantInfo, counters: dict[str, int], imatrix: bool) -> str:
    """attn_v (and fused attn_qkv under the current rules), counted in layer order for use_more_bits."""
    i, n, gqa = counters["attn_v"], counters["n_attn_v"], info.n_gqa
    counters["attn_v"] += 1
    new = default
    if ftype == "Q2_K":
        new = "Q4_K" if gqa >= 4 else "Q3_K"
    elif ftype == "Q2_K_S" and gqa >= 4:
        new = "Q4_K"
    elif ftype == "IQ3_XXS":
        new = "Q4_K" if gqa >= 4 else ("IQ3_S" if not imatrix else "IQ3_XXS")
    elif ftype in ("IQ3_XS", "IQ3_S") and gqa >= 4 or ftype == "IQ3_M":
        new = "Q4_K"
    elif ftype == "Q3_K_M":
        new = "Q5_K" if i < 2 else "Q4_K"
    elif ftype == "Q3_K_L" or ftype in ("IQ4_NL", "IQ4_XS") and gqa >= 4:
        new = "Q5_K"
    elif ftype in ("Q4_K_M", "Q5_K_M") and use_more_bits(i, n):
        new = "Q6_K"
    elif ftype == "Q4_K_S" and i < 4:
        new = "Q5_K"
    if info.is_70b and new in ("Q3_K", "Q4_K"):
        new = "Q5_K"
    return "Q8_0" if info.n_expert == 8 else new


def _ffn_down_type(ts: TensorSpec, ftype: str, default: str, info: ModelQuantInfo, imatrix: bool) -> str:
    """ffn_down, by its layer's place in the stack."""
    i, n, n_expert = (ts.layer or 0), info.n_layers, info.n_expert
    if ftype == "Q2_K":
        return "Q3_K"
    if ftype == "Q2_K_S":
        return "Q4_K" if i < n // 8 else default
    if ftype == "IQ3_XXS" and not imatrix:
        return "Q4_K" if i < n // 8 else "Q3_K"
    if ftype == "Q3_K_M":
        return "Q5_K" if i < n // 16 else "Q4_K"
    if ftype == "IQ3_M" and (i < n // 8 or (n_expert == 8 and use_more_bits(i, n))):
        return "Q4_K"
    if ftype == "Q3_K_L":
        return "Q5_K"
    if ftype == "Q4_K_M":
        return "Q6_K" if use_more_bits(i, n) else default
    if i < n // 8 and ftype in ("IQ4_NL", "IQ4_XS") and not imatrix:
        return "Q5_K"
    if ftype == "Q5_K_M" and use_more_bits(i, n):
        return "Q6_K"
    if ftype == "Q4_K_S" and i < n // 8:
        return "Q5_K"
    if ftype in ("Q4_0", "Q5_0") and imatrix and i < n // 8:
        return "Q4_1" if ftype == "Q4_0" else "Q5_1"
    return default


def _other_type(ts: TensorSpec, ftype: str, default: str, info: ModelQuantInfo) -> str:
    """attn_k, attn_q, attn_output, legacy attn_qkv, ffn_gate / ffn_up; any other role keeps the default."""
    kind = ts.kind
    if kind == "attn_k" and info.n_expert == 8:
        return "Q8_0"
    if kind in ("attn_k", "attn_q"):
        return {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(ftype, default)
    if kind == "attn_output":
        if info.n_expert == 8:
            return "Q5_K" if ftype in _MOE8_ATTN_OUTPUT_MIXES else default
        return {"Q2_K": "Q3_K", "IQ3_XXS": "IQ3_S", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K", "IQ3_M": "Q4_K"}.get(
            ftype, default
        )
    if kind == "attn_qkv":  # legacy rules only: the current code routes attn_qkv through the attn_v branch
        if ftype in ("Q3_K_M", "Q3_K_L", "IQ3_M"):
            return "Q4_K"
        return {"Q4_K_M": "Q5_K", "Q5_K_M": "Q6_K"}.get(ftype, default)
    if kind.startswith(("ffn_gate", "ffn_up")):
        i, n = (ts.layer or 0), info.n_layers
        if ftype == "IQ3_XS" and n // 8 <= i < 7 * n // 8:
            return "IQ3_XXS"
    return default


def _ollama_type(ts: TensorSpec, ftype: str, default: str, info: ModelQuantInfo, counters: dict[str, int]) -> str:
    """Ollama's getTensorNewType (server/quantization.go): a reduced port that only knows Q4_K_M/Q4_K_S/Q8_0."""
    kind = ts.kind
    new = default
    if kind == "output" or (info.tied_output and kind == "token_embd"):
        if ts.row_length % GGML_TYPES[default][0] != 0:
            return "Q8_0"
        return new if new == "Q8_0" else "Q6_K"
    if kind == "attn_v":
        if ftype == "Q4_K_M" and use_more_bits(counters["attn_v"], counters["n_attn_v"]):
            new = "Q6_K"
        elif ftype == "Q4_K_S" and counters["attn_v"] < 4:
            new = "Q5_K"
        if info.n_expert == 8:
            new = "Q8_0"
        counters["attn_v"] += 1
        return new
    if kind == "attn_k":
        return "Q8_0" if info.n_expert == 8 else new
    if kind.startswith("ffn_down"):
        # Ollama counts every tensor whose name contains "ffn_down" (shared and routed experts alike) against
        # n = the layer count, so in MoE files with both the selector runs ahead of the layer index.
        i, n = counters["ffn_down"], info.n_layers
        if ftype == "Q4_K_M" and use_more_bits(i, n):
            new = "Q6_K"
        elif ftype == "Q4_K_S" and i < n // 8:
            new = "Q5_K"
        counters["ffn_down"] += 1
        return new
    if kind == "attn_output":
        return "Q5_K" if info.n_expert == 8 and ftype in ("Q4_K_S", "Q4_K_M") else new
    if kind == "attn_qkv":
        return "Q5_K" if ftype == "Q4_K_M" else new
    return new


def model_quant_info(model: ModelSpec) -> ModelQuantInfo:
    """The hparams the type rules read (n_gqa from layer 0's attention type, as llama.cpp's n_gqa(0))."""
    t = model.text
    first = t.attention.sliding if t.attention.layer_types[0] == "S" else t.attention.full
    n_kv_heads = first.kv_heads if first else 1
    return ModelQuantInfo(
        n_layers=t.num_layers,
        n_gqa=max(1, t.attention.num_heads // max(1, n_kv_heads)),
        n_expert=t.moe.num_experts if t.moe else 0,
        tied_output=t.tie_word_embeddings,
        is_70b=t.num_layers == 80 and t.hidden_size == 8192,
    )


def assign_types(
    tensors: tuple[TensorSpec, ...],
    ftype: str,
    info: ModelQuantInfo,
    *,
    imatrix: bool = False,
    rules: Rules = "current",
    packager: Packager = "llama.cpp",
    src_type: str = "BF16",
    token_embedding_type: str | None = None,
    output_tensor_type: str | None = None,
) -> list[str]:
    """The ggml type of every tensor, in inventory order (layer order, as llama-quantize walks them)."""
    ftype = normalize_ftype(ftype)
    v_kinds = _v_kinds(rules, packager)
    n_attn_v = sum(1 for t in tensors if t.kind in v_kinds)
    counters = {"attn_v": 0, "n_attn_v": n_attn_v, "ffn_down": 0}
    kw = dict(
        imatrix=imatrix,
        rules=rules,
        packager=packager,
        src_type=src_type,
        token_embedding_type=token_embedding_type,
        output_tensor_type=output_tensor_type,
    )
    # The inventory is in layer order, which is all the attn_v counter depends on.
    return [tensor_type(t, ftype, info, counters, **kw) for t in tensors]


@dataclass(frozen=True)
class _Group:
    """Tensors that get the same type under every mix: same role, shape, component and layer-selector bits."""

    rep: TensorSpec  # first member (its counters stand for all members)
    attn_v_index: int
    ffn_down_index: int  # Ollama's running ffn_down counter
    names: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.names)


@cached_per_model(maxsize=1024)
def _groups(model: ModelSpec, rules: Rules, packager: Packager) -> tuple[tuple[_Group, ...], ModelQuantInfo]:
    """Group the inventory so each mix is evaluated once per distinct (role, shape, selector) combination."""
    tensors = text_tensors(model)
    info = model_quant_info(model)
    v_kinds = _v_kinds(rules, packager)
    n_v = sum(1 for ts in tensors if ts.kind in v_kinds)
    n = info.n_layers
    groups: dict[tuple, list] = {}
    i_v = i_fd = 0
    for ts in tensors:
        sig: tuple = ()
        v_idx, fd_idx = i_v, i_fd
        if ts.kind in v_kinds:
            sig = ("v", use_more_bits(i_v, n_v), i_v < 2, i_v < 4)
            i_v += 1
        elif ts.kind.startswith("ffn_down"):
            L = ts.layer or 0
            sig = ("d", use_more_bits(L, n), n // 8 > L, n // 16 > L)
            if packager == "ollama":
                sig += (use_more_bits(i_fd, n), i_fd < n // 8)
            i_fd += 1
        elif ts.kind.startswith(("ffn_gate", "ffn_up")):
            L = ts.layer or 0
            sig = ("g", n // 8 <= L < 7 * n // 8)
        elif ts.kind == "attn_v" or ts.kind == "attn_qkv":  # legacy-rules qkv: no counter
            sig = ("q",)
        gkey = (ts.kind, ts.shape, ts.component, ts.name.endswith("weight"), sig)
        g = groups.get(gkey)
        if g is None:
            groups[gkey] = [ts, v_idx, fd_idx, [ts.name]]
        else:
            g[3].append(ts.name)
    return tuple(_Group(g[0], g[1], g[2], tuple(g[3])) for g in groups.values()), info


@dataclass(frozen=True)
class GGUFSize:
    """Bytes of one model's text GGUF per component and per tensor role, and the type histogram."""

    component_bytes: dict[str, int]
    total_bytes: int
    type_bytes: dict[str, int]
    type_counts: dict[str, int]
    routed_expert_bytes: int  # bytes of the 3-D routed-expert tensors
    kind_bytes: dict[str, int]  # bytes per tensor role (token_embd, per_layer_token_embd, attn_k, ...)
    group_types: tuple[tuple[_Group, str, int], ...]  # (group, ggml type, bytes of one member)

    @property
    def tensor_types(self) -> tuple[tuple[str, str, int], ...]:
        """(name, ggml type, bytes) of every tensor."""
        return tuple((name, gt, b) for g, gt, b in self.group_types for name in g.names)


@cached_per_model(maxsize=4096)
def gguf_size(
    model: ModelSpec,
    ftype: str,
    *,
    packager: Packager = "llama.cpp",
    rules: Rules = "current",
    imatrix: bool = False,
    src_type: str = "BF16",
    token_embedding_type: str | None = None,
    output_tensor_type: str | None = None,
) -> GGUFSize:
    """Size of the text-decoder GGUF of `model` quantised to `ftype` (what llama-bench prints as "size")."""
    ftype = normalize_ftype(ftype)
    groups, info = _groups(model, rules, packager)
    v_kinds = _v_kinds(rules, packager)
    n_v = sum(g.count for g in groups if g.rep.kind in v_kinds)
    comp: dict[str, int] = {}
    tb: dict[str, int] = {}
    tc: dict[str, int] = {}
    kb: dict[str, int] = {}
    routed = 0
    rows = []
    for g in groups:
        counters = {"attn_v": g.attn_v_index, "n_attn_v": n_v, "ffn_down": g.ffn_down_index}
        gt = tensor_type(
            g.rep,
            ftype,
            info,
            counters,
            imatrix=imatrix,
            rules=rules,
            packager=packager,
            src_type=src_type,
            token_embedding_type=token_embedding_type,
            output_tensor_type=output_tensor_type,
        )
        b1 = tensor_bytes(g.rep, gt)
        b = b1 * g.count
        comp[g.rep.component] = comp.get(g.rep.component, 0) + b
        tb[gt] = tb.get(gt, 0) + b
        tc[gt] = tc.get(gt, 0) + g.count
        kb[g.rep.kind] = kb.get(g.rep.kind, 0) + b
        if g.rep.kind.endswith("_exps"):
            routed += b
        rows.append((g, gt, b1))
    return GGUFSize(comp, sum(comp.values()), tb, tc, routed, kb, tuple(rows))
