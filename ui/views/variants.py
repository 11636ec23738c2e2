"""Variants page view: every catalog variant's architecture and derived parameter counts, the scenario model's
sources, and published score against size."""

from __future__ import annotations

from dataclasses import dataclass

from calculators.tensors import param_counts
from model_specs import Catalog
from model_specs.schema import ModelSpec
from ui.scenario import Scenario


@dataclass(frozen=True)
class VariantsView:
    """Every number the Variants page shows for one scenario."""

    families: list[str]  # every family in the catalog
    chosen: list[str]  # families shown
    rows: list[dict]  # one per variant of the chosen families
    model: ModelSpec  # the scenario's model (layer pattern, sources)
    sources: list[tuple[str, str, str, str | None]]  # (key, title, url, note) of the scenario's model
    scores: list[str]  # benchmarks any chosen variant publishes
    score: str | None  # the benchmark charted
    points: list[dict]  # name, score, total_b, active_b per variant with that score


def _b(n: float | None) -> float | None:
    return None if n is None else round(n / 1e9, 3)


def variant_row(m: ModelSpec, cat: Catalog) -> dict:
    """One variant's architecture, derived parameter counts and source as a table row."""
    pc, att, text = param_counts(m), m.text.attention, m.text
    published = m.published_params.model_dump(exclude={"source"}) if m.published_params else {}
    return {
        "Model": m.name,
        "id": m.id,
        "Released": m.release_date,
        "Licence": m.license,
        "Modalities": ", ".join(m.modalities),
        "Context (tokens)": m.context_tokens,
        "Layers": text.num_layers,
        "Sliding / global layers": f"{att.layer_types.count('S')} / {att.layer_types.count('F')}",
        "Window (tokens)": att.sliding_window_tokens,
        "Heads": att.num_heads,
        "KV heads S / G": f"{att.sliding.kv_heads if att.sliding else '-'} / {att.full.kv_heads}",
        "Head dim S / G": f"{att.sliding.head_dim if att.sliding else '-'} / {att.full.head_dim}",
        "K=V global": att.full.k_eq_v,
        "KV-shared layers": att.kv_shared_layers,
        "PLE dim": text.per_layer_embedding.dim if text.per_layer_embedding else None,
        "Experts (total / active / shared)": (
            f"{text.moe.num_experts} / {text.moe.experts_per_token} / {text.moe.shared_experts}" if text.moe else None
        ),
        "Vocab": text.vocab_size,
        "Total params (B, derived)": _b(pc.total_params),
        "Active params/token (B, derived)": _b(pc.active_params_per_token),
        "Published (B)": ", ".join(f"{k} {v / 1e9:g}" for k, v in published.items() if v is not None),
        "Vision encoder (B)": _b(m.vision.params) if m.vision else None,
        "Audio encoder (B)": _b(m.audio.params) if m.audio else None,
        "Source": cat.source_of(m, m.source)[0].url,
    }


def build_variants_view(s: Scenario, cat: Catalog) -> VariantsView:
    """The Variants page's view of `s`."""
    families = sorted({m.family for m in cat.models.values()})
    chosen = [f for f in (s.fams or "").split(",") if f in families] or families
    models = [m for m in cat.models.values() if m.family in chosen]
    model = cat.model(s.model)
    keys = [model.source] + [b.source for b in model.benchmarks.values()] + [o.source for o in model.official_memory]
    sources = []
    for key in sorted({k.strip() for k in ",".join(keys).split(",")}):
        src = cat.model_sources[model.family][key]
        sources.append((key, src.title, src.url, src.note))
    scores = sorted({name for m in models for name in m.benchmarks})
    score = s.score if s.score in scores else next(iter(scores), None)
    points = []
    for m in models:
        if score in m.benchmarks:
            pc = param_counts(m)
            points.append(
                {
                    "name": m.name,
                    "score": m.benchmarks[score].value,
                    "total_b": pc.total_params / 1e9,
                    "active_b": pc.active_params_per_token / 1e9,
                }
            )
    rows = [variant_row(m, cat) for m in models]
    return VariantsView(families, chosen, rows, model, sources, scores, score, points)
