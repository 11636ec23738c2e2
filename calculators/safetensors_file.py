"""Weights of a Hugging Face checkpoint as stored (safetensors headers' exact bytes) for the memory calculators.

Component by tensor name, following the transformers module names: `embed_tokens_per_layer` -> ple,
`embed_tokens` / `wte` -> embedding, `lm_head` -> output, vision / audio towers and their projectors -> vision /
audio, everything else -> text. Routed experts are tensors under `.experts.` (not `shared_expert`).
"""

from __future__ import annotations

from calculators.memory import WeightBreakdown
from model_specs.hf_hub import HubModel

SAFETENSORS_ENGINES = ("vllm", "transformers")
_VISION = ("vision_tower", "vision_model", "visual", "multi_modal_projector", "embed_vision")
_AUDIO = ("audio_tower", "audio_model", "embed_audio")


def hf_component(name: str) -> str:
    """The memory component one checkpoint tensor counts towards."""
    if "embed_tokens_per_layer" in name:
        return "ple"
    if any(k in name for k in _AUDIO):
        return "audio"
    if any(k in name for k in _VISION):
        return "vision"
    if "embed_tokens" in name or name.endswith("wte.weight"):
        return "embedding"
    if name.startswith("lm_head") or ".lm_head." in name:
        return "output"
    return "text"


def safetensors_weights(repo: HubModel, engine: str, *, text_only: bool = False) -> WeightBreakdown:
    """The checkpoint's stored bytes as a WeightBreakdown; ValueError when the engine cannot load safetensors."""
    if repo.model is None or not repo.tensors:
        files = ", ".join(repo.gguf_uri(f) for f in repo.gguf_files[:5]) or "none"
        raise ValueError(f"{repo.repo_id} has no config.json + safetensors to size; its GGUF files: {files}")
    if engine not in SAFETENSORS_ENGINES:
        files = ", ".join(repo.gguf_uri(f) for f in repo.gguf_files[:3])
        hint = f" or --gguf with one of its GGUF files ({files})" if files else ""
        raise ValueError(
            f"safetensors checkpoints run on vllm or transformers; for {engine} pass --quant (e.g. Q4_K_M){hint}"
        )
    comp = {"text": 0, "embedding": 0, "output": 0, "ple": 0, "vision": 0, "audio": 0}
    routed = 0
    for t in repo.tensors:
        c = hf_component(t.name)
        if text_only and c in ("vision", "audio"):
            continue
        comp[c] += t.n_bytes
        if ".experts." in t.name and "shared_expert" not in t.name:
            routed += t.n_bytes
    moe = repo.model.text.moe
    active_routed = routed * moe.experts_per_token // moe.num_experts if moe else 0
    ple_rows = repo.model.text.per_layer_embedding.vocab_size if repo.model.text.per_layer_embedding else 1
    lookup = comp["ple"] - comp["ple"] // ple_rows  # lookup tables: one row is read per token
    if not repo.model.text.tie_word_embeddings:
        lookup += comp["embedding"] - comp["embedding"] // repo.model.text.vocab_size
    text = comp["text"] + comp["embedding"] + comp["output"] + comp["ple"]
    return WeightBreakdown(
        model_id=repo.model.id,
        quant=repo.stored_dtype or "BF16",
        engine=engine,
        component_bytes=comp,
        total_bytes=sum(comp.values()),
        active_bytes_per_token=text - routed + active_routed - lookup,
        routed_expert_bytes=routed,
        tied_output_duplicate_bytes=0,
        notes=(f"weights from the safetensors headers of {repo.repo_id}: {len(repo.tensors)} tensors",),
    )
