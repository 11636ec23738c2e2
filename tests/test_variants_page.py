"""The variants page shows every catalog variant with its source, and the per-layer picture is right."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from model_specs import load_catalog
from ui.charts import layer_kinds, layer_pattern_figure

ROOT = Path(__file__).resolve().parents[1]
CAT = load_catalog()


def test_table_lists_all_variants_with_sources_and_derived_params():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["model"] = "gemma-4-26b-a4b"
    at.run()
    at.switch_page("pages/variants.py")
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert set(table["id"]) == set(CAT.models) and len(table) >= 11
    assert table["Source"].str.startswith("https://").all()
    row = table.set_index("id").loc["gemma-4-26b-a4b"]
    # Derived from the config; the card says 25.2B total / 3.8B active (gemma-family.md s.1.1)
    assert abs(row["Total params (B, derived)"] - 25.78) < 0.01  # 25.23 text + 0.55 vision encoder
    assert abs(row["Active params/token (B, derived)"] - 3.82) < 0.01
    assert row["Experts (total / active / shared)"] == "128 / 8 / 1"
    assert any("Layer pattern: Gemma 4 26B A4B" in s.value for s in at.subheader)


def test_layer_kinds_of_gemma4_e2b():
    # 35 layers, 4:1 sliding:global, the last 20 reuse earlier KV (gemma-family.md s.1.2)
    kinds = layer_kinds(CAT.model("gemma-4-e2b"))
    assert kinds[:5] == ["sliding"] * 4 + ["global"]
    assert kinds[15:20] == ["sliding, KV shared"] * 4 + ["global, KV shared"]
    assert sum(k.endswith("KV shared") for k in kinds) == 20 and kinds[-1] == "global, KV shared"


def test_layer_pattern_figure_has_one_bar_per_layer():
    fig = layer_pattern_figure(CAT.model("gemma-4-31b"))
    xs = sorted(x for trace in fig.data for x in trace.x)
    assert xs == list(range(60))
    assert {t.name for t in fig.data} == {"sliding", "global"}
