"""Costs: owned hardware vs cloud GPU vs hosted API for the scenario, with break-even, payback and sensitivities."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import streamlit as st
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from calculators.cost import (
    OPTIONS,
    CostPlan,
    api_prices_for,
    cloud_hardware_for,
    cloud_prices_for,
    compare,
    default_cloud_quant,
    measured_efficiency,
    measured_forecast_factory,
    nearest_hosted_model,
    plan_costs,
    sensitivities,
)
from probe.report import USE_MEASUREMENT_KEY
from probe.store import ProbeStore, database_url
from ui.cost_charts import (
    OPTION_NAMES,
    breakeven_table,
    cost_curve_figure,
    payback_sentences,
    prices_table,
    quote_caption,
    rate_levels,
    tornado_figure,
)
from ui.report import cost_request
from ui.state import catalog, get_scenario, update_scenario

cat = catalog()
sc = get_scenario()


def _set(field: str, key: str) -> None:
    """on_change: copy a widget's value into the Scenario (None clears an override back to the catalog)."""
    try:
        update_scenario(**{field: st.session_state[key]})
    except ValueError:
        st.session_state["cost_notice"] = f"{field}: value not accepted"


def _money(x: float | None, digits: int = 2) -> str:
    """USD with thousands separators; a dash when there is no figure."""
    return "—" if x is None else f"${x:,.{digits}f}"


def _price_input(label: str, field: str, catalog_value: float | None, seed_key: str, step: float, fmt: str) -> None:
    """A number input seeded from the catalog; typing stores an override in the Scenario."""
    current = getattr(sc, field)
    key = f"cost_{field}_{seed_key}"
    st.session_state[key] = current if current is not None else catalog_value
    st.number_input(label, min_value=0.0, step=step, format=fmt, key=key, on_change=_set, args=(field, key))


def _stored_levels(model_hint: str) -> list[dict[str, Any]]:
    """(run, concurrency) levels of stored probe runs with an output rate; empty when there is no store."""
    try:
        url = database_url()
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
            return []  # reading must not create an empty database
        store = ProbeStore(url)
        try:
            runs = store.list_runs(limit=100)
        finally:
            store.close()
    except (SQLAlchemyError, ValueError, ImportError, OSError) as e:
        # A bad DATABASE_URL, a missing driver, an unreachable or broken database: a caption, not a broken page.
        st.caption(f"Stored probe runs could not be read: {e}")
        return []
    return rate_levels(runs, model_hint)


st.title("Costs: own, rent or pay per token")
st.caption(
    "Monthly cost of serving the scenario's traffic on owned hardware, on rented cloud GPUs and through a "
    "hosted API; every price is editable and shows where it came from."
)
if msg := st.session_state.pop("cost_notice", None):
    st.warning(msg)

rentable = sorted({p.hardware for p in cat.cloud_prices}, key=lambda h: cat.hardware[h].name)
model_ids = list(cat.models)

# ---------------------------------------------------------------- inputs
with st.expander("Workload and latency target", expanded=True):
    c1, c2, c3 = st.columns(3)
    with c1:
        for field, label in (
            ("in_mtok", "Input tokens a month (millions)"),
            ("out_mtok", "Output tokens a month (millions)"),
        ):
            key = f"cost_{field}"
            st.session_state[key] = float(getattr(sc, field))
            st.number_input(label, min_value=0.0, max_value=1e7, step=10.0, key=key, on_change=_set, args=(field, key))
    with c2:
        st.session_state["cost_conc"] = sc.conc
        st.number_input(
            "Peak concurrent requests",
            min_value=1,
            max_value=1024,
            key="cost_conc",
            on_change=_set,
            args=("conc", "cost_conc"),
        )
        st.session_state["cost_util"] = float(sc.util)
        st.slider(
            "Utilisation: share of hours with traffic",
            0.01,
            1.0,
            step=0.01,
            key="cost_util",
            on_change=_set,
            args=("util", "cost_util"),
            help="Traffic arrives in this share of the month's 730 hours; scale-to-zero bills only these.",
        )
    with c3:
        st.session_state["cost_ttft"] = sc.ttft_s
        st.number_input(
            "p95 time to first token target (s, empty = none)",
            min_value=0.01,
            max_value=600.0,
            value=None,
            key="cost_ttft",
            on_change=_set,
            args=("ttft_s", "cost_ttft"),
        )
        st.session_state["cost_user_tps"] = sc.user_tps
        st.number_input(
            "Minimum output tokens/s per user (empty = none)",
            min_value=0.1,
            max_value=10_000.0,
            value=None,
            key="cost_user_tps",
            on_change=_set,
            args=("user_tps", "cost_user_tps"),
        )

hw = cat.device(sc.hw)
col_o, col_c, col_a = st.columns(3)
with col_o:
    st.subheader(OPTION_NAMES["owned"])
    st.caption(
        f"{cat.model(sc.model).name} {sc.quant} on {sc.gpus} x {hw.name} ({sc.engine}); change them in the sidebar."
    )
    _price_input("Purchase price per device (USD; 0 = already owned)", "hw_usd", hw.price_usd, hw.id, 50.0, "%.2f")
    _price_input("Power per device while computing (W)", "watts", hw.tdp_watts, hw.id, 5.0, "%.1f")
    st.session_state["cost_kwh"] = float(sc.kwh)
    st.number_input(
        "Electricity (USD per kWh)",
        min_value=0.0,
        max_value=10.0,
        step=0.01,
        format="%.3f",
        key="cost_kwh",
        on_change=_set,
        args=("kwh", "cost_kwh"),
    )
    st.session_state["cost_months"] = sc.months
    st.number_input(
        "Amortisation (months)",
        min_value=1,
        max_value=120,
        key="cost_months",
        on_change=_set,
        args=("months", "cost_months"),
    )
    pue = st.number_input("PUE (facility overhead)", min_value=1.0, max_value=3.0, value=1.0, step=0.05, key="cost_pue")
    coc = st.number_input(
        "Cost of capital (annual %)", min_value=0.0, max_value=100.0, value=0.0, step=0.5, key="cost_coc"
    )
    fixed = st.number_input("Other fixed costs (USD a month)", min_value=0.0, value=0.0, step=10.0, key="cost_fixed")
    levels = _stored_levels(sc.model.split("-")[-1])
    src_options = ["forecast", "typed measurement"] + (["stored probe run"] if levels else [])
    tput_src = st.radio(
        "Throughput",
        src_options,
        horizontal=True,
        key="cost_tput_src",
        help="The speed forecast by default; or a measured aggregate output rate.",
    )
    measured = measured_conc = None
    if tput_src == "typed measurement":
        measured = st.number_input(
            "Measured output tokens/s (all users together)", min_value=0.1, value=50.0, key="cost_measured"
        )
    elif tput_src == "stored probe run":
        pick = st.selectbox(
            "Probe run",
            range(len(levels)),
            key="cost_probe_run",
            format_func=lambda i: (
                f"{levels[i]['model']} · {levels[i]['concurrency']} concurrent · "
                f"{levels[i]['tokens_per_s']:,.1f} tok/s · {levels[i]['run_id']}"
            ),
        )
        measured, measured_conc = float(levels[pick]["tokens_per_s"]), int(levels[pick]["concurrency"])

with col_c:
    st.subheader(OPTION_NAMES["cloud"])
    default_cloud = sc.cloud_hw if sc.cloud_hw in cat.hardware else None
    c_opts = [None, *rentable]
    st.session_state["cost_cloud_hw"] = default_cloud
    st.selectbox(
        "GPU to rent",
        c_opts,
        key="cost_cloud_hw",
        on_change=_set,
        args=("cloud_hw", "cost_cloud_hw"),
        format_func=lambda h: (
            "automatic (sidebar hardware if rentable, else cheapest that fits)" if h is None else cat.hardware[h].name
        ),
    )
    st.session_state["cost_cloud_model"] = sc.cloud_model if sc.cloud_model in cat.models else None
    st.selectbox(
        "Model on it",
        [None, *model_ids],
        key="cost_cloud_model",
        on_change=_set,
        args=("cloud_model", "cost_cloud_model"),
        format_func=lambda m: "same as the sidebar" if m is None else cat.models[m].name,
    )
    vllm_quants = [q.id for q in cat.quants.values() if "vllm" in q.engines]
    st.session_state["cost_cloud_q"] = sc.cloud_q if sc.cloud_q in vllm_quants else None
    st.selectbox(
        "Quantization on it (vLLM)",
        [None, *vllm_quants],
        key="cost_cloud_q",
        on_change=_set,
        args=("cloud_q", "cost_cloud_q"),
        format_func=lambda q: f"automatic ({default_cloud_quant(cat, sc.quant, 'vllm')})" if q is None else q,
    )
    st.session_state["cost_s2z"] = sc.s2z
    st.toggle("Scale to zero (bill busy hours only)", key="cost_s2z", on_change=_set, args=("s2z", "cost_s2z"))

with col_a:
    st.subheader(OPTION_NAMES["api"])
    st.session_state["cost_api_model"] = sc.api_model if sc.api_model in cat.models else None
    st.selectbox(
        "Model behind the API",
        [None, *model_ids],
        key="cost_api_model",
        on_change=_set,
        args=("api_model", "cost_api_model"),
        format_func=lambda m: "same as the sidebar" if m is None else cat.models[m].name,
    )

# The report builds the same request; the page adds its page-only inputs (PUE, capital, fixed costs, measurement).
request = replace(
    cost_request(sc, cat),
    cost_of_capital=coc / 100,
    pue=pue,
    fixed_usd_per_month=fixed,
    tokens_per_s=measured,
    measured_concurrency=measured_conc,
)

# Provider choices (page-local): the chosen provider's catalog price seeds the editable price.
c_hw = cloud_hardware_for(cat, request)
# Nobody hosts the model: the plan prices the nearest hosted one, so offer that model's providers.
a_model = request.api_model or (
    sc.model if api_prices_for(cat, sc.model) else (nearest_hosted_model(cat, sc.model) or sc.model)
)
with col_c:
    offers = cloud_prices_for(cat, c_hw.id)
    seed = None
    if offers:
        i = st.selectbox(
            "Provider",
            range(len(offers)),
            key=f"cost_cloud_prov_{c_hw.id}",
            format_func=lambda i: f"{offers[i].provider} · ${offers[i].usd_per_gpu_hour:,.4g}/GPU-hour",
        )
        request = replace(request, cloud_provider=offers[i].provider)
        seed = offers[i].usd_per_gpu_hour
    _price_input("USD per GPU-hour", "cloud_hr", seed, f"{c_hw.id}_{seed}", 0.05, "%.4f")
with col_a:
    offers_a = api_prices_for(cat, a_model, request.workload)
    seed_in = seed_out = None
    if offers_a:
        j = st.selectbox(
            "Provider",
            range(len(offers_a)),
            key=f"cost_api_prov_{a_model}",
            format_func=lambda j: (
                f"{offers_a[j].provider} · ${offers_a[j].usd_per_mtok_input:g} in / "
                f"${offers_a[j].usd_per_mtok_output:g} out per M"
            ),
        )
        request = replace(request, api_provider=offers_a[j].provider)
        seed_in, seed_out = offers_a[j].usd_per_mtok_input, offers_a[j].usd_per_mtok_output
    else:
        st.info(
            f"No hosted-API price for {cat.model(a_model).name} in the catalog: type one, or pick a model that has one."
        )
    _price_input("USD per million input tokens", "api_in", seed_in, f"{a_model}_{seed_in}", 0.01, "%.4f")
    _price_input("USD per million output tokens", "api_out", seed_out, f"{a_model}_{seed_out}", 0.01, "%.4f")
    # A typed price for one side keeps the catalog price of the other.
    typed_in = sc.api_in if sc.api_in is not None else seed_in
    typed_out = sc.api_out if sc.api_out is not None else seed_out
    if (sc.api_in is not None or sc.api_out is not None) and typed_in is not None and typed_out is not None:
        request = replace(request, api_input_usd_per_mtok=typed_in, api_output_usd_per_mtok=typed_out)

# "Use my measurement" on the probe page: its measured efficiency replaces the fitted one where it applies.
measurement = st.session_state.get(USE_MEASUREMENT_KEY)
efficiency = measured_efficiency(measurement, cat.model(sc.model).id, sc.quant, hw.id, sc.engine)
if efficiency is not None and measured is None:  # a typed or stored rate replaces the forecast altogether
    st.info(
        f"Owned-hardware throughput uses your measured bandwidth efficiency "
        f"({efficiency:.0%}, probe run {measurement['run_id']}).",
        icon=":material/network_check:",
    )
try:
    plan: CostPlan = plan_costs(cat, request, measured_forecast_factory(measurement))
except (ValueError, KeyError) as e:
    st.error(f"These inputs cannot be priced: {e.args[0] if e.args else e}")
    st.stop()

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

# ---------------------------------------------------------------- results
result = compare(plan.inputs)
st.divider()
st.subheader("Side by side")
cols = st.columns(3)
for col, name in zip(cols, OPTIONS, strict=True):
    o = result.options[name]
    with col:
        st.markdown(f"**{OPTION_NAMES[name]}** — {plan.labels[name]}")
        if o is None:
            st.warning(result.missing[name])
            continue
        st.metric("USD per month", _money(o.usd_per_month), help="at the scenario's volume")
        st.metric("USD per million tokens (input + output)", _money(o.usd_per_mtok, 4))
        if name in plan.sizing:
            st.write(plan.sizing[name])
        for note in o.notes:
            st.caption(note)
if result.cheapest:
    st.success(
        f"Cheapest at {sc.in_mtok:,.0f} M input + {sc.out_mtok:,.0f} M output tokens a month: "
        f"**{OPTION_NAMES[result.cheapest]}** ({plan.labels[result.cheapest]})."
    )
src = plan.throughput_source if tput_src == "forecast" else f"measured ({tput_src})"
st.caption(f"Throughput of the owned option: {src}; the cloud option always uses the speed forecast.")

# Monthly cost against volume, with the break-evens marked.
st.subheader("Monthly cost against monthly volume")
st.plotly_chart(cost_curve_figure(plan.inputs, result), width="stretch", key="cost_curve")
st.dataframe(breakeven_table(result), hide_index=True, width="stretch")
for sentence in payback_sentences(result):
    st.write(sentence)

st.subheader("What the answer is most sensitive to")
pct = st.slider("Move each input by ± %", 5, 50, 20, step=5, key="cost_sens_pct")
priced = [n for n in OPTIONS if result.options[n] is not None]
if priced:
    which = st.radio("For", priced, horizontal=True, format_func=OPTION_NAMES.get, key="cost_tornado_for")
    tornado = tornado_figure(sensitivities(plan.inputs, pct / 100), which, pct)
    st.plotly_chart(tornado, width="stretch", key="cost_tornado")

# Every price with its source.
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
