"""Variants: compare model variants side by side, see each one's layer pattern and what size buys in quality."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from calculators.tensors import param_counts
from ui.charts import layer_pattern_figure, quality_size_figure
from ui.state import catalog, get_scenario

cat = catalog()
scenario = get_scenario()
st.title("Model variants")
st.caption(
    "Architecture values come from config.json / GGUF metadata; parameter counts are derived from them "
    "(and checked against the published totals in the test suite)."
)

families = sorted({m.family for m in cat.models.values()})
chosen = st.multiselect("Families", families, default=families, key="variants_families")
models = [m for m in cat.models.values() if m.family in chosen]


def _b(n: float | None) -> float | None:
    return None if n is None else round(n / 1e9, 3)


rows = []
for m in models:
    pc, att, text = param_counts(m), m.text.attention, m.text
    first = cat.source_of(m, m.source)[0]
    rows.append(
        {
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
                f"{text.moe.num_experts} / {text.moe.experts_per_token} / {text.moe.shared_experts}"
                if text.moe
                else None
            ),
            "Vocab": text.vocab_size,
            "Total params (B, derived)": _b(pc.total_params),
            "Active params/token (B, derived)": _b(pc.active_params_per_token),
            "Published (B)": ", ".join(
                f"{k} {v / 1e9:g}"
                for k, v in (m.published_params.model_dump(exclude={"source"}) if m.published_params else {}).items()
                if v is not None
            ),
            "Vision encoder (B)": _b(m.vision.params) if m.vision else None,
            "Audio encoder (B)": _b(m.audio.params) if m.audio else None,
            "Source": first.url,
        }
    )
table = pd.DataFrame(rows)
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={"Source": st.column_config.LinkColumn("Source", display_text="source")},
)
st.download_button("Download table (CSV)", table.to_csv(index=False), "variants.csv", "text/csv")

model = cat.model(scenario.model)
st.subheader(f"Layer pattern: {model.name}")
st.caption(
    "Sliding-window layers keep only the last window of tokens in the KV cache; global layers keep the whole "
    "context; KV-shared layers reuse an earlier layer's cache and store none. Change the model in the sidebar."
)
st.plotly_chart(layer_pattern_figure(model), width="stretch")

with st.expander(f"Sources and official memory figures for {model.name}"):
    for key in sorted(
        {
            k.strip()
            for k in ",".join(
                [model.source]
                + [s.source for s in model.benchmarks.values()]
                + [o.source for o in model.official_memory]
            ).split(",")
        }
    ):
        src = cat.model_sources[model.family][key]
        st.markdown(f"- **{key}** [{src.title}]({src.url})" + (f" — {src.note}" if src.note else ""))
    if model.official_memory:
        st.markdown("Vendor-published memory to load the weights (no KV cache):")
        st.dataframe(pd.DataFrame([o.model_dump() for o in model.official_memory]), hide_index=True)
    if model.notes:
        st.info(model.notes)

st.subheader("What each step up buys")
scores = sorted({name for m in models for name in m.benchmarks})
if scores:
    score = st.selectbox("Benchmark", scores, key="variants_score")
    points = [
        {
            "name": m.name,
            "score": m.benchmarks[score].value,
            "total_b": param_counts(m).total_params / 1e9,
            "active_b": param_counts(m).active_params_per_token / 1e9,
        }
        for m in models
        if score in m.benchmarks
    ]
    st.plotly_chart(quality_size_figure(points, score), width="stretch")
    st.caption("Scores are the vendors' published figures (instruction-tuned); see each model's sources above.")
else:
    st.info("No benchmark scores in the catalog for the chosen families.")
