"""Variants: compare model variants side by side, see each one's layer pattern and what size buys in quality."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.charts import layer_pattern_figure, quality_size_figure
from ui.state import bind, catalog, get_scenario
from ui.views.variants import build_variants_view

cat = catalog()
scenario = get_scenario()
st.title("Model variants")
st.caption(
    "Architecture values come from config.json / GGUF metadata; parameter counts are derived from them "
    "(and checked against the published totals in the test suite)."
)

v = build_variants_view(scenario, cat)  # every number below comes from this view (widgets change it before a run)
families = v.families
# All families (or none chosen) is the default: the link then carries no `fams`.
bind("fams", st.multiselect, "Families", key="variants_families", options=families,
     from_value=lambda f: [x for x in (f or "").split(",") if x] or families,
     to_value=lambda f: None if not f or sorted(f) == families else ",".join(sorted(f)))  # fmt: skip

table = pd.DataFrame(v.rows)
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={"Source": st.column_config.LinkColumn("Source", display_text="source")},
)
st.download_button("Download table (CSV)", table.to_csv(index=False), "variants.csv", "text/csv")

model = v.model
st.subheader(f"Layer pattern: {model.name}")
st.caption(
    "Sliding-window layers keep only the last window of tokens in the KV cache; global layers keep the whole "
    "context; KV-shared layers reuse an earlier layer's cache and store none. Change the model in the sidebar."
)
st.plotly_chart(layer_pattern_figure(model), width="stretch")

with st.expander(f"Sources and official memory figures for {model.name}"):
    for key, title, url, note in v.sources:
        st.markdown(f"- **{key}** [{title}]({url})" + (f" — {note}" if note else ""))
    if model.official_memory:
        st.markdown("Vendor-published memory to load the weights (no KV cache):")
        st.dataframe(pd.DataFrame([o.model_dump() for o in model.official_memory]), hide_index=True)
    if model.notes:
        st.info(model.notes)

st.subheader("What each step up buys")
if v.scores:
    bind("score", st.selectbox, "Benchmark", key="variants_score", options=v.scores, from_value=lambda _: v.score)
    st.plotly_chart(quality_size_figure(v.points, v.score), width="stretch")
    st.caption("Scores are the vendors' published figures (instruction-tuned); see each model's sources above.")
else:
    st.info("No benchmark scores in the catalog for the chosen families.")
