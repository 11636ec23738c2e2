"""Weight-tensor inventory of a model's text decoder, GGUF-style, and the parameter counts derived from it.

The inventory is what llama.cpp's converter (convert_hf_to_gguf.py) writes for the architecture: one entry per
tensor with its GGUF name (`blk.3.attn_q.weight`), its shape in GGUF order (ne0 = the row length, the input
dimension of a matrix, first), the layer it belongs to and the component it counts towards. Memory and
quantisation sizing (calculators/memory/, calculators/gguf.py) walk this list, because the per-tensor type
rules of llama.cpp depend on the tensor's role, layer and row length.

Rules reproduced here, each checked against published totals in tests/test_params.py:
- Attention per layer type (sliding / full) with its own KV heads and head size. A K=V layer (Gemma 4 global
  layers, `attention_k_eq_v`) has no `attn_v` tensor (llama.cpp src/models/gemma4.cpp: "v_proj is optional, if
  it's not present, use k_proj").
- KV-shared layers (Gemma 3n / Gemma 4 E-models) still carry k/v projection weights; counting them reproduces
  the parameter totals llama.cpp reports (shared/reference/gemma-family.md section 1.4).
- MoE: routed experts as 3-D `_exps` tensors [in, out, n_expert], a router `ffn_gate_inp` [hidden, n_expert]
  (kept in F32 by the converter) and the shared expert(s).
- Per-layer embeddings (PLE): the table `per_layer_token_embd` [layers x dim, vocab_ple], the projection
  `per_layer_model_proj` [hidden, layers x dim] and per layer `inp_gate` [hidden, dim] + `proj` [dim, hidden].
- Norms as 1-D F32 tensors; Gemma 2/3/3n/4 add post-attention / post-FFN norms, Gemma 3/3n/4 and Qwen 3 add
  per-head q/k norms.
- Vision and audio encoders are not enumerated: they are sized by their published parameter count
  (`Encoder.params`), since their internal layouts differ per model and their files (mmproj) are separate.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from model_specs.schema import ModelSpec

T = TypeVar("T")

Component = Literal["text", "embedding", "output", "ple", "vision", "audio"]
COMPONENTS: tuple[Component, ...] = ("text", "embedding", "output", "ple", "vision", "audio")


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One weight tensor: GGUF name, shape (ne0 first), layer index (None for global tensors), component, role."""

    name: str
    shape: tuple[int, ...]
    layer: int | None
    component: Component
    # Role: token_embd, output, per_layer_token_embd, per_layer_model_proj, attn_q, attn_k, attn_v, attn_qkv,
    # attn_output, ffn_gate, ffn_up, ffn_down, ffn_gate_up, ffn_{gate,up,down}_exps, ffn_gate_up_exps,
    # ffn_{gate,up,down}_shexp, ffn_gate_inp, ple_inp_gate, ple_proj, norm, bias, other.
    kind: str

    @property
    def n_params(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def n_dims(self) -> int:
        return len(self.shape)

    @property
    def row_length(self) -> int:
        """ne0: the length of one row, which must be a multiple of a quant type's block size."""
        return self.shape[0]


@dataclass(frozen=True)
class ArchStyle:
    """Layout details the spec schema does not carry, inferred from the model family."""

    sandwich_norms: bool = False  # post-attention and post-FFN norms (Gemma 2/3/3n/4)
    qk_norm: bool = False  # per-head RMSNorm on q and k (Gemma 3/3n/4, Qwen 3)
    qkv_bias: bool = False  # biases on q/k/v (Qwen 2 / 2.5)
    all_bias: bool = False  # biases on every projection incl. experts, plus attention sinks (gpt-oss)
    fused_qkv: bool = False  # one attn_qkv tensor (Phi-3)
    fused_gate_up: bool = False  # one ffn_up tensor of width 2 x ff (Phi-3)
    shared_expert_plain_names: bool = False  # Gemma 4 names its shared MLP ffn_gate/up/down, not *_shexp
    layer_out_scale: bool = False  # Gemma 4 per-layer output scalar


def _family_key(model: ModelSpec) -> str:
    return re.sub(r"[^a-z0-9]", "", model.family.lower())


def arch_style(model: ModelSpec) -> ArchStyle:
    """Infer layout details from the family name; unknown families get the plain Llama layout."""
    fam = _family_key(model)
    if fam.startswith("gemma4"):
        return ArchStyle(sandwich_norms=True, qk_norm=True, shared_expert_plain_names=True, layer_out_scale=True)
    if fam.startswith("gemma3"):  # gemma3 and gemma3n
        return ArchStyle(sandwich_norms=True, qk_norm=True)
    if fam.startswith("gemma2"):
        return ArchStyle(sandwich_norms=True)
    if fam.startswith("qwen3"):
        return ArchStyle(qk_norm=True)
    if fam.startswith("qwen2"):
        return ArchStyle(qkv_bias=True)
    if fam.startswith(("gptoss", "openai")):
        return ArchStyle(all_bias=True)
    if fam.startswith("phi3"):
        return ArchStyle(fused_qkv=True, fused_gate_up=True)
    return ArchStyle()


def _build_text_tensors(model: ModelSpec) -> tuple[TensorSpec, ...]:
    t = model.text
    att = t.attention
    st = arch_style(model)
    h = t.hidden_size
    out: list[TensorSpec] = []

    def add(name: str, shape: tuple[int, ...], layer: int | None, comp: Component, kind: str) -> None:
        out.append(TensorSpec(name, shape, layer, comp, kind))

    add("token_embd.weight", (h, t.vocab_size), None, "embedding", "token_embd")
    if not t.tie_word_embeddings:
        add("output.weight", (h, t.vocab_size), None, "output", "output")
    add("output_norm.weight", (h,), None, "text", "norm")

    ple = t.per_layer_embedding
    if ple is not None:
        width = t.num_layers * ple.dim
        add("per_layer_token_embd.weight", (width, ple.vocab_size), None, "ple", "per_layer_token_embd")
        add("per_layer_model_proj.weight", (h, width), None, "text", "per_layer_model_proj")
        add("per_layer_proj_norm.weight", (ple.dim,), None, "text", "norm")

    inter = t.intermediate_sizes()
    moe = t.moe
    full_rope_added = False
    for i, lt in enumerate(att.layer_types):
        geom = att.sliding if lt == "S" else att.full
        assert geom is not None  # validated by the schema
        q_dim = att.num_heads * geom.head_dim
        kv_dim = geom.kv_heads * geom.head_dim
        p = f"blk.{i}."
        add(p + "attn_norm.weight", (h,), i, "text", "norm")
        if st.fused_qkv:
            add(p + "attn_qkv.weight", (h, q_dim + 2 * kv_dim), i, "text", "attn_qkv")
        else:
            add(p + "attn_q.weight", (h, q_dim), i, "text", "attn_q")
            add(p + "attn_k.weight", (h, kv_dim), i, "text", "attn_k")
            if not geom.k_eq_v:
                add(p + "attn_v.weight", (h, kv_dim), i, "text", "attn_v")
        add(p + "attn_output.weight", (q_dim, h), i, "text", "attn_output")
        if st.qkv_bias or st.all_bias:
            add(p + "attn_q.bias", (q_dim,), i, "text", "bias")
            add(p + "attn_k.bias", (kv_dim,), i, "text", "bias")
            add(p + "attn_v.bias", (kv_dim,), i, "text", "bias")
        if st.all_bias:
            add(p + "attn_output.bias", (h,), i, "text", "bias")
            add(p + "attn_sinks.weight", (att.num_heads,), i, "text", "other")
        if st.qk_norm:
            add(p + "attn_q_norm.weight", (geom.head_dim,), i, "text", "norm")
            add(p + "attn_k_norm.weight", (geom.head_dim,), i, "text", "norm")
        if st.sandwich_norms:
            add(p + "post_attention_norm.weight", (h,), i, "text", "norm")
        if st.layer_out_scale:
            add(p + "layer_output_scale.weight", (1,), i, "text", "other")
        if st.layer_out_scale and lt == "F" and not full_rope_added:
            # Gemma 4 proportional RoPE: one rope_freqs tensor shared by the full-attention layers.
            add("rope_freqs.weight", (geom.head_dim // 2,), None, "text", "other")
            full_rope_added = True

        add(p + "ffn_norm.weight", (h,), i, "text", "norm")
        ff = inter[i]
        if ff:
            if st.fused_gate_up:
                add(p + "ffn_up.weight", (h, 2 * ff), i, "text", "ffn_gate_up")
            else:
                add(p + "ffn_gate.weight", (h, ff), i, "text", "ffn_gate")
                add(p + "ffn_up.weight", (h, ff), i, "text", "ffn_up")
            add(p + "ffn_down.weight", (ff, h), i, "text", "ffn_down")
        if moe is not None:
            e, fe = moe.num_experts, moe.expert_intermediate_size
            add(p + "ffn_gate_inp.weight", (h, e), i, "text", "ffn_gate_inp")
            add(p + "ffn_gate_exps.weight", (h, fe, e), i, "text", "ffn_gate_exps")
            add(p + "ffn_up_exps.weight", (h, fe, e), i, "text", "ffn_up_exps")
            add(p + "ffn_down_exps.weight", (fe, h, e), i, "text", "ffn_down_exps")
            if st.all_bias:
                add(p + "ffn_gate_inp.bias", (e,), i, "text", "bias")
                add(p + "ffn_gate_exps.bias", (fe, e), i, "text", "bias")
                add(p + "ffn_up_exps.bias", (fe, e), i, "text", "bias")
                add(p + "ffn_down_exps.bias", (h, e), i, "text", "bias")
            if moe.shared_experts:
                fs = moe.shared_expert_intermediate_size * moe.shared_experts
                sfx = "" if st.shared_expert_plain_names else "_shexp"
                add(p + f"ffn_gate{sfx}.weight", (h, fs), i, "text", "ffn_gate_shexp")
                add(p + f"ffn_up{sfx}.weight", (h, fs), i, "text", "ffn_up_shexp")
                add(p + f"ffn_down{sfx}.weight", (fs, h), i, "text", "ffn_down_shexp")
            if st.shared_expert_plain_names:  # Gemma 4 MoE block norms and router scale
                for nm in ("pre_ffw_norm_2", "post_ffw_norm_1", "post_ffw_norm_2"):
                    add(p + f"{nm}.weight", (h,), i, "text", "norm")
                add(p + "ffn_gate_inp.scale", (h,), i, "text", "other")
                add(p + "ffn_down_exps.scale", (e,), i, "text", "other")
        if st.sandwich_norms:
            add(p + "post_ffw_norm.weight", (h,), i, "text", "norm")
        if ple is not None:
            add(p + "inp_gate.weight", (h, ple.dim), i, "text", "ple_inp_gate")
            add(p + "proj.weight", (ple.dim, h), i, "text", "ple_proj")
            add(p + "post_norm.weight", (h,), i, "text", "norm")
    if t.other_params:
        # Parameters outside the layer formulas (AltUp, LAuReL, ...): small matrices kept unquantised.
        add("other.weight", (t.other_params,), None, "text", "other")
    return tuple(out)


def cached_per_model(maxsize: int = 256) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Memoise a pure function whose first argument is a model and whose other arguments are hashable.

    ModelSpec holds lists, so it is not hashable: the key is its id(), and the model is kept alive in the entry so
    that id cannot be reused by another object while the entry exists. Least recently used entries go first.
    Streamlit reruns sessions in threads: the lock keeps one session's eviction from racing another's lookup.
    """

    def decorate(build: Callable[..., T]) -> Callable[..., T]:
        cache: OrderedDict[tuple, tuple[ModelSpec, T]] = OrderedDict()
        lock = threading.Lock()

        @functools.wraps(build)
        def wrapper(model: ModelSpec, *args, **kwargs) -> T:
            key = (id(model), args, tuple(sorted(kwargs.items())))
            with lock:
                hit = cache.get(key)
                if hit is not None and hit[0] is model:
                    cache.move_to_end(key)
                    return hit[1]
            value = build(model, *args, **kwargs)
            with lock:
                cache[key] = (model, value)
                if len(cache) > maxsize:
                    cache.popitem(last=False)
            return value

        wrapper.cache_clear = cache.clear  # type: ignore[attr-defined]
        return wrapper

    return decorate


@cached_per_model()
def text_tensors(model: ModelSpec) -> tuple[TensorSpec, ...]:
    """All weight tensors of the text decoder (including embeddings, output and the PLE table)."""
    return _build_text_tensors(model)


@dataclass(frozen=True)
class ParamCounts:
    """Parameter counts of one model (plain counts, not bytes)."""

    total_params: int  # text decoder + vision + audio
    text_params: int  # text decoder incl. token embedding, untied output and the PLE table
    embedding_params: int  # input token embedding (the tied output shares it)
    output_params: int  # untied output projection (0 when tied)
    ple_params: int  # per-layer-embedding table only (a lookup; its projections count as text)
    vision_params: int
    audio_params: int
    # Parameters touched per decoded token: attention, dense MLP, shared + top-k routed experts, routers,
    # embedding and output; the PLE table is excluded (one row per layer is looked up, not read whole).
    active_params_per_token: int
    effective_params: int  # text minus the PLE table (Gemma's "effective" size for E-models)
    routed_expert_params: int  # all routed experts (0 for dense models)


@cached_per_model()
def param_counts(model: ModelSpec) -> ParamCounts:
    """Count parameters from the tensor inventory plus the encoders' published sizes."""
    tensors = text_tensors(model)
    by_comp = dict.fromkeys(COMPONENTS, 0)
    routed = 0
    for ts in tensors:
        by_comp[ts.component] += ts.n_params
        if ts.kind.endswith("_exps") or (ts.kind == "bias" and "_exps" in ts.name):
            routed += ts.n_params
    text = by_comp["text"] + by_comp["embedding"] + by_comp["output"] + by_comp["ple"]
    vision = (model.vision.params or 0) if model.vision else 0
    audio = (model.audio.params or 0) if model.audio else 0
    moe = model.text.moe
    inactive = 0
    if moe is not None:
        inactive = routed - routed * moe.experts_per_token // moe.num_experts
    return ParamCounts(
        total_params=text + vision + audio,
        text_params=text,
        embedding_params=by_comp["embedding"],
        output_params=by_comp["output"],
        ple_params=by_comp["ple"],
        vision_params=vision,
        audio_params=audio,
        active_params_per_token=text - by_comp["ple"] - inactive,
        effective_params=text - by_comp["ple"],
        routed_expert_params=routed,
    )
