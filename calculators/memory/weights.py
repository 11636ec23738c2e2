"""Weight bytes per quantization format and engine: which tensors are quantized, which stay in float."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from calculators import gguf
from calculators.tensors import cached_per_model, text_tensors
from model_specs.schema import ModelSpec

Engine = Literal["llama.cpp", "ollama", "vllm", "transformers"]
ENGINES: tuple[str, ...] = ("llama.cpp", "ollama", "vllm", "transformers")
KV_DTYPES: tuple[str, ...] = ("f16", "bf16", "fp8", "q8_0", "q4_0")
GiB = 1 << 30
MiB = 1 << 20

# Non-GGUF weight formats: bits per weight of the quantised linear layers (group scales included).
#   AWQ / GPTQ int4, group 128: 4 + 16/128 (fp16 scale) + 4/128 (packed zero) bits.
#   bitsandbytes NF4, block 64: 4 + 32/64 bits (fp32 absmax, the transformers default); with double
#   quantisation (NF4-DQ) the absmax is 8-bit with an fp32 constant per 256 blocks: 4 + 8/64 + 32/(64*256).
#   FP8 / INT8 W8A8 per-channel: 8 bits (+ one scale per output row, negligible).
#   MXFP4: 32 FP4 values share one E8M0 scale byte: 4.25 bits. NVFP4: 16 values share an FP8 scale: 4.5 bits.
_LINEAR_BITS = {
    "FP8": 8.0,
    "INT8": 8.0,
    "AWQ": 4 + 16 / 128 + 4 / 128,
    "GPTQ": 4 + 16 / 128 + 4 / 128,
    "NF4": 4 + 32 / 64,
    "NF4_DQ": 4 + 8 / 64 + 32 / (64 * 256),
    "MXFP4": 4.25,
    "NVFP4": 4.5,
}
_FLOAT_BITS = {"F32": 32.0, "FP32": 32.0, "BF16": 16.0, "F16": 16.0, "FP16": 16.0}
# Engines that load each non-GGUF format (vLLM docs "Supported Hardware for Quantization Kernels";
# transformers quantization docs). GGUF mixes run on llama.cpp and Ollama (vLLM's GGUF loader is experimental).
_FORMAT_ENGINES = {
    "FP8": {"vllm", "transformers"},
    "INT8": {"vllm", "transformers"},
    "AWQ": {"vllm", "transformers"},
    "GPTQ": {"vllm", "transformers"},
    "NF4": {"vllm", "transformers"},
    "NF4_DQ": {"vllm", "transformers"},
    "MXFP4": {"vllm", "transformers"},
    "NVFP4": {"vllm"},
}


# ------------------------------------------------------------------------------------------------ weights


@dataclass(frozen=True)
class QuantSpec:
    """How a weight format stores each tensor class."""

    name: str
    kind: Literal["gguf", "float", "linear"]
    ftype: str | None = None  # GGUF file type
    bits: float = 16.0  # float bits or quantised-linear bits


def resolve_quant(quant: str, engine: str = "llama.cpp") -> QuantSpec:
    """Parse a quantisation name for an engine; ValueError if unknown or the engine cannot run it."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine '{engine}' (known: {', '.join(ENGINES)})")
    q = quant.strip().upper().replace("-", "_")
    if q in _FLOAT_BITS and engine in ("vllm", "transformers"):
        return QuantSpec(q, "float", bits=_FLOAT_BITS[q])
    if q in _LINEAR_BITS and not (q == "MXFP4" and engine in ("llama.cpp", "ollama")):
        if engine not in _FORMAT_ENGINES[q]:
            raise ValueError(f"{q} weights are not supported by {engine} (use a GGUF type such as Q4_K_M)")
        return QuantSpec(q, "linear", bits=_LINEAR_BITS[q])
    if q.startswith("GGML_"):
        raise ValueError(f"{quant} is a ggml tensor type, not a file type; pick a mix such as Q4_K_M")
    if gguf.is_gguf_ftype(q):
        ftype = gguf.normalize_ftype(q)
        if engine == "transformers" and ftype not in ("F16", "BF16", "F32"):
            raise ValueError("transformers dequantises GGUF files on load; pick BF16, NF4, AWQ, GPTQ or FP8")
        if engine == "vllm" and ftype in ("F16", "BF16", "F32"):
            return QuantSpec(ftype, "float", bits=_FLOAT_BITS[ftype])
        return QuantSpec(ftype, "gguf", ftype=ftype)
    raise ValueError(f"unknown quantization '{quant}'")


@dataclass(frozen=True)
class WeightBreakdown:
    """Weight bytes of one model in one format on one engine."""

    model_id: str
    quant: str
    engine: str
    component_bytes: dict[str, int]  # text / embedding / output / ple / vision / audio
    total_bytes: int
    # Bytes read per decoded token: every layer's weights, shared + top-k routed experts only, the output
    # matrix, and one row of the embedding / PLE tables (lookups).
    active_bytes_per_token: int
    routed_expert_bytes: int
    tied_output_duplicate_bytes: int  # llama.cpp loads a tied output matrix a second time on the GPU
    notes: tuple[str, ...] = ()

    @property
    def text_decoder_bytes(self) -> int:
        """Layers, embeddings, output and PLE table: everything but the vision / audio encoders."""
        c = self.component_bytes
        return c["text"] + c["embedding"] + c["output"] + c["ple"]


def _zero_components() -> dict[str, int]:
    return {"text": 0, "embedding": 0, "output": 0, "ple": 0, "vision": 0, "audio": 0}


def _float_bytes(n_params: int, bits: float) -> int:
    return math.ceil(n_params * bits / 8)


@cached_per_model(maxsize=8192)  # the fit matrix asks for every model x quant on every page rerun
def weights(model: ModelSpec, quant: str, engine: str = "llama.cpp", text_only: bool = False) -> WeightBreakdown:
    """Weight bytes per component for `quant` on `engine` (text_only drops the vision/audio encoders)."""
    qs = resolve_quant(quant, engine)
    comp = _zero_components()
    notes: list[str] = []
    tensors = text_tensors(model)
    t = model.text
    routed = 0
    kind_bytes: dict[str, int] = {}
    k_eq_v_k_bytes = 0  # attn_k bytes on K=V layers (vLLM duplicates them into the V slot)
    if qs.kind == "gguf":
        packager = "ollama" if engine == "ollama" and qs.ftype in gguf.OLLAMA_FTYPES else "llama.cpp"
        size = gguf.gguf_size(model, qs.ftype, packager=packager)
        for c, b in size.component_bytes.items():
            comp[c] += b
        kind_bytes = dict(size.kind_bytes)
        routed = size.routed_expert_bytes
        if engine == "vllm":
            for g, _, b1 in size.group_types:
                if g.rep.kind == "attn_k" and _is_k_eq_v_layer(model, g.rep.layer):
                    k_eq_v_k_bytes += b1 * g.count
        if packager == "ollama" and t.per_layer_embedding is not None:
            notes.append("Ollama keeps the per-layer-embedding table unquantised (server/quantization.go)")
    else:
        for ts in tensors:
            if qs.kind == "float" or ts.kind in ("token_embd", "output", "per_layer_token_embd"):
                bits = qs.bits if qs.kind == "float" else 16.0
            elif ts.n_dims < 2 or ts.kind in ("ffn_gate_inp", "norm", "bias", "other", "other_matrix"):
                bits = 16.0 if qs.kind == "linear" else qs.bits
            elif qs.name == "MXFP4" and ts.n_dims < 3:
                bits = 16.0  # MXFP4 checkpoints (gpt-oss) quantise only the routed experts
            else:
                bits = qs.bits
            b = _float_bytes(ts.n_params, bits)
            comp[ts.component] += b
            kind_bytes[ts.kind] = kind_bytes.get(ts.kind, 0) + b
            if ts.kind.endswith("_exps"):
                routed += b
            if ts.kind == "attn_k" and _is_k_eq_v_layer(model, ts.layer):
                k_eq_v_k_bytes += b
        if qs.kind == "linear":
            notes.append(f"{qs.name}: embeddings, lm_head and norms stay 16-bit; linear layers at {qs.bits:.3g} bits")
    if engine == "vllm" and k_eq_v_k_bytes:
        # k_eq_v layers: vLLM loads the K weights into the V slot too (gemma4.py _weight_iterator remapping).
        comp["text"] += k_eq_v_k_bytes
        notes.append("vLLM duplicates the K projection into the V slot on K=V layers")
    # Encoders.
    if not text_only:
        enc_bits = 16.0 if qs.kind != "float" else qs.bits
        for name, enc in (("vision", model.vision), ("audio", model.audio)):
            if enc is None:
                continue
            if enc.params is None:
                notes.append(f"{name} encoder size is not published; counted as 0")
                continue
            comp[name] = _float_bytes(enc.params, enc_bits)
        if (model.vision or model.audio) and engine == "llama.cpp":
            notes.append("llama.cpp loads the encoders from a separate mmproj GGUF (F16)")
    total = sum(comp.values())
    # Per-token read bytes.
    moe = t.moe
    active_routed = routed * moe.experts_per_token // moe.num_experts if moe else 0
    tied = t.tie_word_embeddings
    lookup = 0
    row_bytes = 0
    lookup_kinds = [("per_layer_token_embd", t.per_layer_embedding.vocab_size if t.per_layer_embedding else 1)]
    if not tied:
        lookup_kinds.append(("token_embd", t.vocab_size))
    for kind, rows in lookup_kinds:
        b = kind_bytes.get(kind, 0)
        lookup += b
        row_bytes += b // rows  # one vocabulary row is read per token
    active = comp["text"] + comp["embedding"] + comp["output"] + comp["ple"] - routed + active_routed
    active = active - lookup + row_bytes
    dup_out = comp["embedding"] if (tied and engine in ("llama.cpp", "ollama")) else 0
    return WeightBreakdown(
        model_id=model.id,
        quant=qs.name,
        engine=engine,
        component_bytes=comp,
        total_bytes=total,
        active_bytes_per_token=active,
        routed_expert_bytes=routed,
        tied_output_duplicate_bytes=dup_out,
        notes=tuple(notes),
    )


def _is_k_eq_v_layer(model: ModelSpec, layer: int | None) -> bool:
    if layer is None:
        return False
    att = model.text.attention
    geom = att.sliding if att.layer_types[layer] == "S" else att.full
    return bool(geom and geom.k_eq_v)
