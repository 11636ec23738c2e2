"""Architecture of a GGUF model from its header: metadata keys plus tensor shapes -> ModelSpec.

Keys follow llama.cpp's names (gguf-py/gguf/constants.py `Keys.LLM` / `Keys.Attention`, prefixed with
general.architecture): block_count, embedding_length, feed_forward_length (one value or one per layer),
attention.head_count / head_count_kv (idem), key_length / value_length and their _swa variants,
attention.sliding_window, attention.sliding_window_pattern (one bool per layer, true = sliding; Gemma 4 writes
it), attention.shared_kv_layers, expert_count / expert_used_count / expert_feed_forward_length /
expert_shared_count / expert_shared_feed_forward_length, embedding_length_per_layer_input (PLE).

Where the key is absent the tensors answer: dense FFN width per layer from `blk.N.ffn_down.weight`, vocabulary
from `token_embd.weight`, tied output when there is no `output.weight`, K=V global layers when they carry no
`attn_v`, the PLE vocabulary from `per_layer_token_embd.weight`. Architectures whose sliding pattern llama.cpp
hard-codes instead of storing (src/llama-model.cpp `set_swa_pattern`) take it from `_SWA_PERIOD`.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from model_specs.gguf_header import GGUFError, GGUFFile
from model_specs.schema import ModelSpec

# Architectures that store only the window: llama.cpp's hard-coded pattern, period p = p-1 sliding layers then 1
# full (gemma2 / gpt-oss alternate starting with a sliding layer: p = 2).
_SWA_PERIOD = {"gemma2": 2, "gemma3": 6, "gemma3n": 5, "gpt-oss": 2, "cohere2": 4}
_BLK = re.compile(r"^blk\.(\d+)\.(.+)$")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.") or "gguf-model"


def _per_layer(v: Any, n: int, key: str) -> list[int] | None:
    """A per-layer list from a scalar or a list of n values (None when absent)."""
    if v is None:
        return None
    if isinstance(v, list):
        if len(v) != n or not all(isinstance(x, int) for x in v):
            raise GGUFError(f"metadata {key}: expected {n} integers, one per layer")
        return list(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return [v] * n
    raise GGUFError(f"metadata {key}: expected an integer, got {v!r}")


def _layer_types(meta: dict[str, Any], arch: str, n: int, notes: list[str]) -> str:
    """S/F per layer: the stored pattern, llama.cpp's hard-coded one, or all full."""
    window = meta.get(f"{arch}.attention.sliding_window")
    pattern = meta.get(f"{arch}.attention.sliding_window_pattern")
    if not window:
        return "F" * n
    if isinstance(pattern, list) and len(pattern) == n:
        return "".join("S" if p else "F" for p in pattern)
    period = pattern if isinstance(pattern, int) and pattern > 0 else _SWA_PERIOD.get(arch)
    if period:
        return "".join("F" if (i + 1) % period == 0 else "S" for i in range(n))
    notes.append(f"sliding_window={window} stored without a layer pattern: sized as full attention")
    return "F" * n


def _layer_tensors(f: GGUFFile) -> dict[int, dict[str, tuple[int, ...]]]:
    """Per layer: role ('attn_k.weight') -> shape."""
    out: dict[int, dict[str, tuple[int, ...]]] = {}
    for t in f.tensors:
        m = _BLK.match(t.name)
        if m:
            out.setdefault(int(m.group(1)), {})[m.group(2)] = t.shape
    return out


def _geometry(types: list[int], kv: list[int], hd: int, vd: int, notes: list[str], label: str) -> dict:
    """One attention type's geometry: the largest KV head count among its layers; K and V head sizes folded."""
    heads = max(kv[i] for i in types)
    if min(kv[i] for i in types) != heads:
        notes.append(f"{label} layers have different KV head counts; sized with the largest ({heads})")
    dim = hd
    if vd != hd:  # the cache stores K rows of hd and V rows of vd: the mean gives the same bytes per token
        dim = (hd + vd) // 2
        notes.append(f"{label} layers: K head size {hd}, V head size {vd}; KV sized with their mean {dim}")
    return {"kv_heads": heads, "head_dim": dim}


def _attention(f: GGUFFile, arch: str, n: int, notes: list[str]) -> dict:
    meta = f.metadata
    heads_l = _per_layer(meta.get(f"{arch}.attention.head_count"), n, "attention.head_count")
    if not heads_l or not max(heads_l):
        raise GGUFError(f"{f.source}: metadata has no {arch}.attention.head_count")
    heads = max(heads_l)
    kv = _per_layer(meta.get(f"{arch}.attention.head_count_kv"), n, "attention.head_count_kv") or heads_l
    kv = [k or heads for k in kv]
    hidden = meta[f"{arch}.embedding_length"]
    k_full = meta.get(f"{arch}.attention.key_length") or hidden // heads
    v_full = meta.get(f"{arch}.attention.value_length") or k_full
    k_swa = meta.get(f"{arch}.attention.key_length_swa") or k_full
    v_swa = meta.get(f"{arch}.attention.value_length_swa") or (v_full if k_swa == k_full else k_swa)
    lt = _layer_types(meta, arch, n, notes)
    layers = _layer_tensors(f)
    full_idx = [i for i, c in enumerate(lt) if c == "F"]
    swa_idx = [i for i, c in enumerate(lt) if c == "S"]
    att: dict[str, Any] = {
        "num_heads": heads,
        "layer_types": lt,
        "kv_shared_layers": meta.get(f"{arch}.attention.shared_kv_layers") or 0,
    }
    if full_idx:
        att["full"] = _geometry(full_idx, kv, k_full, v_full, notes, "global")
        att["full"]["k_eq_v"] = all(
            "attn_k.weight" in layers.get(i, {}) and "attn_v.weight" not in layers.get(i, {}) for i in full_idx
        )
    if swa_idx:
        att["sliding"] = _geometry(swa_idx, kv, k_swa, v_swa, notes, "sliding")
        att["sliding_window_tokens"] = meta[f"{arch}.attention.sliding_window"]
        att.setdefault("full", dict(att["sliding"]))  # schema needs one; no layer uses it
    if meta.get(f"{arch}.attention.kv_lora_rank"):
        notes.append("compressed (MLA) attention: KV cache sized as plain attention, an overestimate")
    return att


def _moe(f: GGUFFile, arch: str, ff: list[int], notes: list[str]) -> tuple[dict | None, list[int] | int]:
    """The MoE block (None for dense models) and the dense widths left for the layers."""
    meta = f.metadata
    n_exp = meta.get(f"{arch}.expert_count") or 0
    if n_exp < 2:
        return None, ff
    top_k = meta.get(f"{arch}.expert_used_count")
    width = meta.get(f"{arch}.expert_feed_forward_length")
    if not width:
        width = next((t.shape[0] for t in f.tensors if t.name.endswith("ffn_down_exps.weight")), None)
    if not top_k or not width:
        raise GGUFError(f"{f.source}: MoE metadata lacks expert_used_count or the expert width")
    shared_n = meta.get(f"{arch}.expert_shared_count") or 0
    shared_w = meta.get(f"{arch}.expert_shared_feed_forward_length") or 0
    if shared_n and not shared_w:
        shared_w = next((t.shape[0] for t in f.tensors if t.name.endswith("ffn_down_shexp.weight")), 0)
        shared_w //= shared_n
    if arch == "gemma4" and max(ff):  # Gemma 4's dense MLP runs beside the experts as a shared expert
        shared_n, shared_w, ff = 1, max(ff), [0] * len(ff)
    if any(ff) and any(x == 0 for x in ff):
        notes.append("some layers have a dense FFN and others not: sized as written in the file")
    moe = {
        "num_experts": n_exp,
        "experts_per_token": top_k,
        "expert_intermediate_size": width,
        "shared_experts": 1 if shared_n and shared_w else 0,
        "shared_expert_intermediate_size": shared_w * max(1, shared_n) if shared_n and shared_w else 0,
    }
    return moe, ff


def _ffn_widths(f: GGUFFile, arch: str, n: int) -> list[int]:
    """Dense FFN width per layer: ffn_down's row length in the file, else feed_forward_length."""
    layers = _layer_tensors(f)
    meta_ff = _per_layer(f.metadata.get(f"{arch}.feed_forward_length"), n, "feed_forward_length") or [0] * n
    out = []
    for i in range(n):
        down = layers.get(i, {}).get("ffn_down.weight")
        out.append(down[0] if down else (0 if layers.get(i) else meta_ff[i]))
    return out


def _text(f: GGUFFile, arch: str, notes: list[str]) -> dict:
    meta = f.metadata
    n, hidden = meta.get(f"{arch}.block_count"), meta.get(f"{arch}.embedding_length")
    if not isinstance(n, int) or not isinstance(hidden, int) or n < 1 or hidden < 1:
        raise GGUFError(f"{f.source}: metadata lacks {arch}.block_count / {arch}.embedding_length")
    by_name = {t.name: t for t in f.tensors}
    embd = by_name.get("token_embd.weight")
    vocab = embd.shape[1] if embd else meta.get(f"{arch}.vocab_size")
    if not vocab:
        raise GGUFError(f"{f.source}: no token_embd.weight tensor and no {arch}.vocab_size")
    moe, ff = _moe(f, arch, _ffn_widths(f, arch, n), notes)
    text: dict[str, Any] = {
        "num_layers": n,
        "hidden_size": hidden,
        "intermediate_size": ff[0] if len(set(ff)) == 1 else ff,
        "vocab_size": vocab,
        "tie_word_embeddings": "output.weight" not in by_name,
        "attention": _attention(f, arch, n, notes),
        "moe": moe,
    }
    ple_dim = meta.get(f"{arch}.embedding_length_per_layer_input")
    ple = by_name.get("per_layer_token_embd.weight")
    if ple_dim and ple is not None:
        text["per_layer_embedding"] = {"dim": ple_dim, "vocab_size": ple.shape[1]}
    return text


def _encoder(mmproj: GGUFFile, audio: bool) -> dict | None:
    """Encoder entry sized from the mmproj tensors (parameters; the bytes come from the file itself)."""
    ts = [t for t in mmproj.tensors if is_audio_tensor(t.name) == audio]
    if not ts:
        return None
    prefix = "clip.audio" if audio else "clip.vision"
    return {
        "params": sum(t.n_params for t in ts),
        "layers": mmproj.metadata.get(f"{prefix}.block_count"),
        "hidden_size": mmproj.metadata.get(f"{prefix}.embedding_length"),
        "source": f"mmproj GGUF header ({mmproj.source})",
    }


def is_audio_tensor(name: str) -> bool:
    """Whether an mmproj tensor belongs to the audio encoder / projector (llama.cpp's `a.` and `mm.a.` names)."""
    return name.startswith(("a.", "mm.a."))


def model_from_gguf(f: GGUFFile, mmproj: GGUFFile | None = None, model_id: str | None = None) -> ModelSpec:
    """The ModelSpec a GGUF header describes (the mmproj, if given, as its encoders); GGUFError when it cannot."""
    if f.is_mmproj:
        raise GGUFError(f"{f.source} is an mmproj (vision/audio encoder) file: pass it as the mmproj of a model GGUF")
    if mmproj is not None and not mmproj.is_mmproj:
        raise GGUFError(f"{mmproj.source} is not an mmproj file (general.architecture is '{mmproj.arch}')")
    arch = f.arch
    if not arch:
        raise GGUFError(f"{f.source}: metadata has no general.architecture")
    notes: list[str] = []
    text = _text(f, arch, notes)
    vision = _encoder(mmproj, audio=False) if mmproj else None
    audio = _encoder(mmproj, audio=True) if mmproj else None
    name = str(f.metadata.get("general.name") or re.sub(r"\.gguf$", "", f.source.rsplit("/", 1)[-1]))
    data = {
        "id": _slug(model_id or name),
        "name": name,
        "family": arch,
        "modalities": ["text"] + (["image"] if vision else []) + (["audio"] if audio else []),
        "context_tokens": f.metadata.get(f"{arch}.context_length") or 4096,
        "text": text,
        "vision": vision,
        "audio": audio,
        "source": f"GGUF header ({f.source})",
        "notes": "; ".join(notes) or None,
    }
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        raise GGUFError(f"{f.source}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
