"""The Costs page's inputs: workload, owned hardware, cloud GPU and hosted API, each bound to the Scenario."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from ui.cost_charts import OPTION_NAMES, capacity_bars_figure
from ui.state import bind, catalog, get_scenario
from ui.views.costs import THROUGHPUT_LABELS, CostView, level_key
from ui.views.facts import SessionFacts


def money(x: float | None, digits: int = 2) -> str:
    """USD with thousands separators; a dash when there is no figure."""
    return "—" if x is None else f"${x:,.{digits}f}"


def _num(field: str, label: str, key: str | None = None, **kw) -> None:
    """A number input bound to Scenario.<field> (key cost_<field> unless given)."""
    bind(field, st.number_input, label, key=key or f"cost_{field}", **kw)


def _price(label: str, field: str, seed: float | None, key: str, step: float, fmt: str) -> None:
    """A price seeded from the catalog; typing stores an override in the Scenario (and so the link)."""
    _num(
        field,
        label,
        key=f"cost_{field}_{key}",
        min_value=0.0,
        step=step,
        format=fmt,
        from_value=lambda x: seed if x is None else x,
    )


AUTO = "__auto__"  # stands for None in a selectbox, which would read None as "nothing selected"


def _choice(field: str, label: str, options: list, fmt, key: str | None = None) -> None:
    """A selectbox bound to Scenario.<field>; None (shown through `fmt`) stands for the automatic choice."""
    bind(
        field,
        st.selectbox,
        label,
        key=key or f"cost_{field}",
        options=[AUTO if o is None else o for o in options],
        format_func=lambda o: fmt(None if o == AUTO else o),
        from_value=lambda v: AUTO if v is None else v,
        to_value=lambda v: None if v == AUTO else v,
    )


def _workload_inputs() -> None:
    """Monthly traffic, peak concurrency, utilisation and the latency target."""
    with st.expander("Workload and latency target", expanded=True):
        c1, c2, c3 = st.columns(3)
        with c1:
            _num("in_mtok", "Input tokens a month (millions)", min_value=0.0, max_value=1e7, step=10.0)
            _num("out_mtok", "Output tokens a month (millions)", min_value=0.0, max_value=1e7, step=10.0)
        with c2:
            _num("conc", "Peak concurrent requests", min_value=1, max_value=1024)
            bind(
                "util",
                st.slider,
                "Utilisation: share of hours with traffic",
                key="cost_util",
                min_value=0.01,
                max_value=1.0,
                step=0.01,
                help="Traffic arrives in this share of the month's 730 hours; scale-to-zero bills only these.",
            )
        with c3:
            _num(
                "ttft_s",
                "p95 time to first token target (s, empty = none)",
                key="cost_ttft",
                min_value=0.01,
                max_value=600.0,
                value=None,
            )
            _num(
                "user_tps",
                "Minimum output tokens/s per user (empty = none)",
                min_value=0.1,
                max_value=10_000.0,
                value=None,
            )


def _owned_inputs(v: CostView, facts: SessionFacts) -> None:
    """Purchase, power, financing and throughput of the owned hardware."""
    cat, sc, hw = catalog(), get_scenario(), v.hardware
    st.subheader(OPTION_NAMES["owned"])
    st.caption(
        f"{cat.model(sc.model).name} {sc.quant} on {sc.gpus} x {hw.name} ({sc.engine}); change them in the sidebar."
    )
    _price("Purchase price per device (USD; 0 = already owned)", "hw_usd", hw.price_usd, hw.id, 50.0, "%.2f")
    _price("Power per device while computing (W)", "watts", hw.tdp_watts, hw.id, 5.0, "%.1f")
    _num("kwh", "Electricity (USD per kWh)", min_value=0.0, max_value=10.0, step=0.01, format="%.3f")
    _num("months", "Amortisation (months)", min_value=1, max_value=120)
    _num("pue", "PUE (facility overhead)", min_value=1.0, max_value=3.0, step=0.05)
    _num("coc", "Cost of capital (annual %)", min_value=0.0, max_value=100.0, step=0.5)
    _num("fixed", "Other fixed costs (USD a month)", min_value=0.0, max_value=1e7, step=10.0)
    if facts.store_error:
        st.caption(f"Stored probe runs could not be read: {facts.store_error}")
    levels = {level_key(lv): lv for lv in facts.rate_levels}
    sources = ["forecast", "typed"] + (["probe"] if levels else [])
    bind(
        "tput",
        st.radio,
        "Throughput",
        key="cost_tput_src",
        options=sources,
        format_func=THROUGHPUT_LABELS.get,
        horizontal=True,
        help="The speed forecast by default; or a measured aggregate output rate.",
    )
    if v.throughput_source == "typed":
        _num(
            "meas_tps",
            "Measured output tokens/s (all users together)",
            key="cost_measured",
            min_value=0.1,
            max_value=1e7,
        )
    elif v.throughput_source == "probe":

        def _level(k: str) -> str:
            lv = levels[k]
            return f"{lv['model']} · {lv['concurrency']} concurrent · {lv['tokens_per_s']:,.1f} tok/s · {lv['run_id']}"

        _choice("meas_run", "Probe run", list(levels), _level, key="cost_probe_run")


def _cloud_inputs(v: CostView) -> None:
    """GPU, model, quantization, provider and price of the rented option."""
    cat = catalog()
    st.subheader(OPTION_NAMES["cloud"])
    auto_hw = "automatic (sidebar hardware if rentable, else cheapest that fits)"
    rentable = sorted({p.hardware for p in cat.cloud_prices}, key=lambda h: cat.hardware[h].name)
    _choice("cloud_hw", "GPU to rent", [None, *rentable], lambda h: auto_hw if h is None else cat.hardware[h].name)
    same = "same as the sidebar"
    _choice("cloud_model", "Model on it", [None, *cat.models], lambda m: same if m is None else cat.models[m].name)
    _choice(
        "cloud_q",
        "Quantization on it (vLLM)",
        [None, *v.vllm_quants],
        lambda q: q or f"automatic ({v.automatic_cloud_quant})",
    )
    bind("s2z", st.toggle, "Scale to zero (bill busy hours only)", key="cost_s2z")
    if v.cloud_offers:
        prices = {o.provider: o.usd_per_gpu_hour for o in v.cloud_offers}
        _choice(
            "cloud_prov",
            "Provider",
            list(prices),
            lambda p: f"{p} · ${prices[p]:,.4g}/GPU-hour",
            key=f"cost_cloud_prov_{v.cloud_hardware.id}",
        )
    seed = v.cloud_seed_usd_per_hour
    _price("USD per GPU-hour", "cloud_hr", seed, f"{v.cloud_hardware.id}_{seed}", 0.05, "%.4f")


def _api_inputs(v: CostView) -> None:
    """Model, provider and prices of the hosted-API option."""
    cat, same = catalog(), "same as the sidebar"
    st.subheader(OPTION_NAMES["api"])
    _choice(
        "api_model",
        "Model behind the API",
        [None, *cat.models],
        lambda m: same if m is None else cat.models[m].name,
    )
    if v.api_offers:
        offers = {o.provider: o for o in v.api_offers}
        _choice(
            "api_prov",
            "Provider",
            list(offers),
            lambda p: f"{p} · ${offers[p].usd_per_mtok_input:g} in / ${offers[p].usd_per_mtok_output:g} out per M",
            key=f"cost_api_prov_{v.api_model}",
        )
    else:
        st.info(
            f"No hosted-API price for {cat.model(v.api_model).name} in the catalog: type one, or pick a model that has one."
        )
    seed_in, seed_out = v.api_seed_usd_per_mtok
    _price("USD per million input tokens", "api_in", seed_in, f"{v.api_model}_{seed_in}", 0.01, "%.4f")
    _price("USD per million output tokens", "api_out", seed_out, f"{v.api_model}_{seed_out}", 0.01, "%.4f")


def cost_inputs(v: CostView, facts: SessionFacts) -> tuple[Any, Any, Any]:
    """Every input of the Costs page; returns the owned, cloud and API columns for the price captions."""
    _workload_inputs()
    col_o, col_c, col_a = st.columns(3)
    with col_o:
        _owned_inputs(v, facts)
    with col_c:
        _cloud_inputs(v)
    with col_a:
        _api_inputs(v)
    return col_o, col_c, col_a


def _run_label(run: dict[str, Any]) -> str:
    """A stored capacity run as the picker shows it: model, capacity, endpoint, date, id."""
    c = run["capacity"]
    unit = "users" if c.get("search") == "concurrency" else "requests/s"
    value = "none" if c.get("value") is None else f"{c['value']:,.4g} {unit}"
    return f"{run['model']} · {value} at its SLO · {run['endpoint']} · {str(run['created_at'])[:10]} · {run['id']}"


def slo_section(v: CostView) -> None:
    """Cost at a stored capacity run's SLO (cap_run): the picker, forecast vs measured capacity and money."""
    if not v.capacity_runs and v.slo is None and v.slo_notice is None:
        return
    st.subheader("At the SLO: forecast vs measured capacity")
    if v.slo_notice:
        st.warning(v.slo_notice)
    runs = {r["id"]: r for r in v.capacity_runs}
    if runs:
        none = "none (forecast only)"
        _choice("cap_run", "Stored capacity run", [None, *runs], lambda r: none if r is None else _run_label(runs[r]))
    slo = v.slo
    if slo is None:
        st.caption("Pick a probe capacity run to price the scenario's peak at the capacity it measured.")
        return
    if slo.error:
        st.warning(f"This capacity run cannot be priced: {slo.error}.")
        return
    st.write(
        f"Run {slo.run['id']} ({slo.run['model']}, {slo.label}): {slo.capacity_words} with {slo.slo_words}. "
        f"Peak load {slo.replicas.peak_load:,.3g} {slo.capacity.unit}."
    )
    if slo.capacity.at_least:
        st.caption("The search's maximum still met the SLO: the capacity may be higher, the replicas fewer.")
    bars = v.capacity_bars()
    st.plotly_chart(capacity_bars_figure(bars, slo.capacity.unit), width="stretch", key="cost_slo_capacity")
    st.dataframe(pd.DataFrame(v.slo_rows()), hide_index=True, width="stretch")
    st.caption(
        "Measured: replicas = ceil(peak / capacity per replica): peak concurrent users for a concurrency search "
        "(and enough goodput for the month's output tokens in the busy hours), or for a rate search the month's "
        "output tokens over the busy hours in requests of the measured size. Each replica is assumed to be one "
        "owned replica (and one rented one) of the options above, serving as the measured endpoint did."
    )
