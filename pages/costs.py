"""Costs: owned hardware vs cloud GPU vs hosted API for the scenario, with break-even, payback and sensitivities."""

from __future__ import annotations

import streamlit as st

from ui.cost_charts import (
    OPTION_NAMES,
    breakeven_table,
    cost_curve_figure,
    payback_sentences,
    prices_table,
    quote_caption,
    tornado_figure,
)
from ui.cost_widgets import cost_inputs, money, slo_section
from ui.measurements import session_facts
from ui.state import bind, catalog, get_scenario, update_scenario
from ui.views.costs import OPTIONS, build_cost_view

cat = catalog()
sc = get_scenario()
facts = session_facts(sc, with_levels=True)
v = build_cost_view(sc, cat, facts)  # every number below comes from this view


st.title("Costs: own, rent or pay per token")
st.caption(
    "Monthly cost of serving the scenario's traffic on owned hardware, on rented cloud GPUs and through a "
    "hosted API; every price is editable and shows where it came from."
)
col_o, col_c, col_a = cost_inputs(v, facts)
if v.efficiency is not None:
    st.info(
        f"Owned-hardware throughput uses your measured bandwidth efficiency ({v.efficiency:.0%}, probe run "
        f"{facts.probe_choice['run_id']}).",
        icon=":material/network_check:",
    )
if v.plan is None:
    st.error(f"These inputs cannot be priced: {v.error}")
    st.stop()
plan, result = v.plan, v.comparison
with col_c:
    st.caption(quote_caption(plan.quotes.get("cloud_usd_per_gpu_hour")))
with col_a:
    st.caption(quote_caption(plan.quotes.get("api_usd_per_mtok_input")))
with col_o:
    st.caption("Price: " + quote_caption(plan.quotes.get("hardware_price_usd")))
    st.caption("Power: " + quote_caption(plan.quotes.get("power_watts")))
overridden = any(getattr(sc, f) is not None for f in ("hw_usd", "watts", "cloud_hr", "api_in", "api_out"))
if overridden and st.button("Use catalog prices again", key="cost_reset"):
    update_scenario(hw_usd=None, watts=None, cloud_hr=None, api_in=None, api_out=None)
    st.rerun()

st.divider()
st.subheader("Side by side")
for col, name in zip(st.columns(3), OPTIONS, strict=True):
    o = result.options[name]
    with col:
        st.markdown(f"**{OPTION_NAMES[name]}** — {plan.labels[name]}")
        if name == "api" and v.fallback_label:
            st.caption(v.fallback_label)
        if o is None:
            st.warning(result.missing[name])
            continue
        st.metric("USD per month", money(o.usd_per_month), help="at the scenario's volume")
        st.metric("USD per million tokens (input + output)", money(o.usd_per_mtok, 4))
        if name in plan.sizing:
            st.write(plan.sizing[name])
        for note in o.notes:
            st.caption(note)
        if v.slo is not None and (line := v.slo.sentence(name)):
            st.info(line + " (measured; the figures above are the forecast).")
if result.cheapest:
    st.success(
        f"Cheapest at {sc.in_mtok:,.0f} M input + {sc.out_mtok:,.0f} M output tokens a month: "
        f"**{OPTION_NAMES[result.cheapest]}** ({plan.labels[result.cheapest]})."
    )
st.caption(v.throughput_sentence)
slo_section(v)

st.subheader("Monthly cost against monthly volume")
st.plotly_chart(cost_curve_figure(plan.inputs, result), width="stretch", key="cost_curve")
st.dataframe(breakeven_table(result), hide_index=True, width="stretch")
for sentence in payback_sentences(result):
    st.write(sentence)

st.subheader("What the answer is most sensitive to")
bind("sens", st.slider, "Move each input by ± %", key="cost_sens_pct", min_value=5, max_value=50, step=5)
if v.priced:
    bind(
        "tor",
        st.radio,
        "For",
        key="cost_tornado_for",
        options=v.priced,
        format_func=OPTION_NAMES.get,
        horizontal=True,
        from_value=lambda _: v.tornado_option,
    )
    st.plotly_chart(tornado_figure(v.sensitivities, v.tornado_option, sc.sens), width="stretch", key="cost_tornado")

st.subheader("Prices used")
st.dataframe(
    prices_table(plan.quotes),
    hide_index=True,
    width="stretch",
    column_config={"Source": st.column_config.LinkColumn("Source")},
)
st.caption(
    "Assumptions: a month is 730 h; replicas are added for the peak and for the volume within the busy hours; "
    "owned hardware has no resale value and idles at 10 % of its busy power unless told otherwise; "
    "break-evens keep the input:output mix, concurrency and utilisation fixed. Details: docs/cost-cli.md."
)
