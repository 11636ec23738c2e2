"""Convert a Hugging Face config.json (flat, or nested text_config/vision_config) into a ModelSpec."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from model_specs.schema import ModelSpec

REQUIRED = ("num_hidden_layers", "hidden_size", "num_attention_heads", "vocab_size")
# Architectures whose flat keys follow the Llama layout closely enough to import.
KNOWN_TYPES = {
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen3",
    "qwen2_moe",
    "qwen3_moe",
    "phi3",
    "gemma",
    "gemma2",
    "gemma3",
    "gemma3_text",
    "gemma3n",
    "gemma3n_text",
    "gemma4",
    "gemma4_text",
    "gpt_oss",
    "granite",
    "olmo2",
}
# Default tie_word_embeddings per model_type where the config may omit it (transformers config defaults).
TIED_BY_DEFAULT = {"gemma", "gemma2", "gemma3", "gemma3_text", "gemma3n", "gemma3n_text", "gemma4", "gemma4_text"}


# Values transformers fills in when a config.json omits them (the class defaults), for types whose published
# configs rely on them: Gemma3TextConfig in transformers/models/gemma3/configuration_gemma3.py.
TYPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "gemma3_text": {
        "vocab_size": 262208,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "sliding_window_pattern": 6,
        "max_position_embeddings": 131072,
        "tie_word_embeddings": True,
    },
}


# Optional fields that, when present, must be integers >= 0 (anything else cannot be sized).
OPTIONAL_INTS = (
    "num_key_value_heads",
    "head_dim",
    "sliding_window",
    "sliding_window_pattern",
    "num_global_key_value_heads",
    "global_head_dim",
    "max_position_embeddings",
    "num_experts",
    "num_local_experts",
    "num_experts_per_tok",
    "top_k_experts",
    "moe_intermediate_size",
    "hidden_size_per_layer_input",
    "vocab_size_per_layer_input",
    "num_kv_shared_layers",
    "experts_per_token",
    "n_routed_experts",
    "shared_expert_intermediate_size",
)


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.") or "custom-model"


def _layer_types(cfg: dict[str, Any], n_layers: int, mtype: str) -> tuple[str, list[str]]:
    """Per-layer S/F string and notes on how it was decided."""
    notes: list[str] = []
    window = cfg.get("sliding_window")
    if isinstance(cfg.get("layer_types"), list):
        lt = cfg["layer_types"]
        if len(lt) != n_layers:
            raise ValueError(f"layer_types has {len(lt)} entries but num_hidden_layers is {n_layers}")
        return "".join("S" if "sliding" in str(t) else "F" for t in lt), notes
    if not window:
        return "F" * n_layers, notes
    if mtype == "gemma2":  # alternating, first layer local (transformers Gemma2)
        return "".join("S" if i % 2 == 0 else "F" for i in range(n_layers)), notes
    pattern = cfg.get("sliding_window_pattern") or cfg.get("_sliding_window_pattern")
    if pattern:  # Gemma 3: every `pattern`-th layer is global
        return "".join("F" if (i + 1) % int(pattern) == 0 else "S" for i in range(n_layers)), notes
    if mtype.startswith("qwen") and not cfg.get("use_sliding_window", False):
        return "F" * n_layers, notes
    # Mistral/Phi-3 declare a window that llama.cpp ignores (it allocates the full cache); size as full attention.
    notes.append(f"sliding_window={window} declared but sized as full attention, as llama.cpp allocates it")
    return "F" * n_layers, notes


def _encoder_params(vc: dict[str, Any]) -> int | None:
    """Rough ViT parameter count from a vision_config (layers x (4h^2 + 2 h ffn)); None if unsized."""
    h, n, ffn = vc.get("hidden_size"), vc.get("num_hidden_layers"), vc.get("intermediate_size")
    if not (isinstance(h, int) and isinstance(n, int) and isinstance(ffn, int)):
        return None
    return n * (4 * h * h + 2 * h * ffn)


def _text_config(config: Any) -> tuple[dict[str, Any], str]:
    """The text part of a config (nested text_config or the whole), with type defaults; ValueError if unsizable."""
    if not isinstance(config, dict):
        raise ValueError("config.json must be a JSON object")
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    mtype = str(text.get("model_type") or config.get("model_type") or "")
    text = {**TYPE_DEFAULTS.get(mtype, {}), **text}
    missing = [k for k in REQUIRED if not _positive_int(text.get(k))]
    if missing:
        kind = f"model_type '{mtype}'" if mtype else "this config"
        raise ValueError(f"cannot size {kind}: missing or non-positive-integer fields {', '.join(missing)}")
    # 0 means "not used" in these fields (e.g. hidden_size_per_layer_input: 0), as transformers reads them.
    bad = [k for k in OPTIONAL_INTS if text.get(k) is not None and not (_positive_int(text[k]) or text[k] == 0)]
    if bad:
        raise ValueError(f"config.json: {', '.join(bad)} must be positive integers")
    return text, mtype


def _attention(text: dict[str, Any], layer_types: str) -> dict[str, Any]:
    """The attention block: heads, layer pattern, full and sliding geometry, KV sharing."""
    heads = text["num_attention_heads"]
    kv_heads = text.get("num_key_value_heads") or heads
    head_dim = text.get("head_dim") or text["hidden_size"] // heads
    full = {
        "kv_heads": text.get("num_global_key_value_heads") or kv_heads,
        "head_dim": text.get("global_head_dim") or head_dim,
        "k_eq_v": bool(text.get("attention_k_eq_v", False)),
    }
    attention: dict[str, Any] = {
        "num_heads": heads,
        "layer_types": layer_types,
        "full": full,
        "kv_shared_layers": text.get("num_kv_shared_layers") or 0,
    }
    if "S" in layer_types:
        if not text.get("sliding_window"):
            raise ValueError("config.json: layer_types has sliding layers but sliding_window is not set")
        attention["sliding"] = {"kv_heads": kv_heads, "head_dim": head_dim}
        attention["sliding_window_tokens"] = text["sliding_window"]
    return attention


def _ffn(text: dict[str, Any], mtype: str, kv_shared_layers: int) -> tuple[Any, dict[str, Any] | None]:
    """(intermediate size or per-layer sizes, MoE block or None)."""
    n_layers = text["num_hidden_layers"]
    inter = text.get("intermediate_size", 0)
    n_experts = text.get("num_experts") or text.get("num_local_experts") or text.get("n_routed_experts")
    moe = None
    if n_experts and (text.get("enable_moe_block", True)):
        top_k = text.get("num_experts_per_tok") or text.get("top_k_experts") or text.get("experts_per_token")
        expert_size = text.get("moe_intermediate_size") or inter
        if not top_k or not expert_size:
            raise ValueError("MoE config needs num_experts_per_tok (or top_k_experts) and moe_intermediate_size")
        shared = text.get("shared_expert_intermediate_size") or 0
        if mtype.startswith("gemma4") and inter:  # Gemma 4's dense MLP runs beside the experts: a shared expert
            shared, inter = inter, 0
        moe = {
            "num_experts": n_experts,
            "experts_per_token": top_k,
            "expert_intermediate_size": expert_size,
            "shared_experts": 1 if shared else 0,
            "shared_expert_intermediate_size": shared,
        }
        if mtype in ("mixtral", "gpt_oss", "qwen3_moe", "qwen2_moe"):
            inter = 0  # every layer is sparse (decoder_sparse_step=1); intermediate_size is the expert width
    if isinstance(inter, int) and text.get("use_double_wide_mlp") and kv_shared_layers:
        first_shared = n_layers - kv_shared_layers
        inter = [inter if i < first_shared else 2 * inter for i in range(n_layers)]
    return inter, moe


def _encoders(config: dict[str, Any]) -> tuple[list[str], dict | None, dict | None]:
    """(modalities, vision encoder, audio encoder) from vision_config / audio_config."""
    modalities = ["text"]
    vision = audio = None
    if isinstance(config.get("vision_config"), dict):
        modalities.append("image")
        vision = {
            "params": _encoder_params(config["vision_config"]),
            "source": "config.json",
            "layers": config["vision_config"].get("num_hidden_layers"),
            "hidden_size": config["vision_config"].get("hidden_size"),
            "note": "parameter count derived from vision_config (approximate)",
        }
    if isinstance(config.get("audio_config"), dict):
        modalities.append("audio")
        audio = {
            "params": _encoder_params(config["audio_config"]),
            "source": "config.json",
            "note": "parameter count derived from audio_config (approximate)",
        }
    return modalities, vision, audio


def model_from_hf_config(config: Any, model_id: str | None = None) -> ModelSpec:
    """Build a ModelSpec from a parsed config.json; ValueError names what is missing or wrong."""
    text, mtype = _text_config(config)
    n_layers = text["num_hidden_layers"]
    layer_types, notes = _layer_types(text, n_layers, mtype)
    if mtype and mtype not in KNOWN_TYPES:
        notes.append(f"model_type '{mtype}' is not one the importer knows; sized with the Llama layout")
    attention = _attention(text, layer_types)
    inter, moe = _ffn(text, mtype, attention["kv_shared_layers"])
    ple = None
    if text.get("hidden_size_per_layer_input"):
        ple = {
            "dim": text["hidden_size_per_layer_input"],
            "vocab_size": text.get("vocab_size_per_layer_input") or text["vocab_size"],
        }
    tied = text.get("tie_word_embeddings", config.get("tie_word_embeddings", mtype in TIED_BY_DEFAULT))
    modalities, vision, audio = _encoders(config)
    name = model_id or config.get("_name_or_path") or mtype or "custom model"
    data = {
        "id": _slug(str(name).split("/")[-1]),
        "name": str(name),
        "family": mtype or "custom",  # the tensor layout (norms, biases) depends on it
        "modalities": modalities,
        "context_tokens": text.get("max_position_embeddings") or config.get("max_position_embeddings") or 4096,
        "text": {
            "num_layers": n_layers,
            "hidden_size": text["hidden_size"],
            "intermediate_size": inter,
            "vocab_size": text["vocab_size"],
            "tie_word_embeddings": bool(tied),
            "attention": attention,
            "moe": moe,
            "per_layer_embedding": ple,
        },
        "vision": vision,
        "audio": audio,
        "source": "config.json",
        "notes": "; ".join(notes) or None,
    }
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        raise ValueError(f"config.json: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def model_from_hf_json(raw: str | bytes, model_id: str | None = None) -> ModelSpec:
    """Parse config.json text and import it; ValueError with a readable reason when it is not one."""
    try:
        config = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"not a JSON file: {e}") from None
    return model_from_hf_config(config, model_id)
