"""Resolve a cost request against the catalog into priced inputs for all three options."""

from __future__ import annotations

from dataclasses import dataclass, field

from calculators.cost.capacity import (
    ForecastFactory,
    capacity_from_forecast,
    capacity_from_measured,
    default_forecast_factory,
    sizing_sentence,
)
from calculators.cost.compare import CostInputs, option_cost
from calculators.cost.inputs import Capacity, CloudGpu, HostedApi, OwnedHardware
from calculators.cost.prices import (
    _pick,
    api_prices_for,
    cloud_hardware_for,
    cloud_prices_for,
    default_cloud_quant,
    nearest_hosted_model,
)
from calculators.cost.request import (
    CostInputError,
    CostPlan,
    CostRequest,
    HalfApiPrice,
    HostedSubstitute,
    MissingInput,
    Quote,
)
from model_specs.loader import Catalog


def _capacity(
    catalog: Catalog,
    req: CostRequest,
    model_id: str,
    quant: str,
    hw_id: str,
    engine: str,
    gpus: int,
    factory: ForecastFactory,
    measured: float | None,
) -> Capacity:
    w = req.workload
    if measured is not None:
        return capacity_from_measured(measured, w, gpus, concurrency=req.measured_concurrency)
    at = factory(
        catalog.model(model_id),
        quant,
        catalog.device(hw_id),
        engine=engine,
        gpus=gpus,
        context_tokens=req.context_tokens,
        prompt_tokens=req.prompt_tokens,
        output_tokens=req.output_tokens,
        cached_prefix_tokens=min(req.cached_prefix_tokens, req.prompt_tokens),
    )
    return capacity_from_forecast(at, w, gpus)


def _label(model_name: str, quant: str, gpus: int, hardware_name: str) -> str:
    """'Gemma 4 31B AWQ on 2 x NVIDIA A100 80GB' (no count for one device)."""
    return f"{model_name} {quant} on {f'{gpus} x ' if gpus > 1 else ''}{hardware_name}"


@dataclass
class _Draft:
    """What plan_costs collects, option by option."""

    quotes: dict[str, Quote] = field(default_factory=dict)
    missing: dict[str, MissingInput] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    substitute: HostedSubstitute | None = None


def plan_costs(catalog: Catalog, req: CostRequest, forecast_factory: ForecastFactory | None = None) -> CostPlan:
    """Resolve a request against the catalog: prices (typed or catalog, with sources), capacities, sizing."""
    factory = forecast_factory or default_forecast_factory
    w = req.workload
    model = catalog.model(req.model)
    hw = catalog.device(req.hardware)
    catalog.quant(req.quant)
    if req.gpus < 1:
        raise CostInputError("devices per replica (gpus) must be at least 1", ("gpus",))
    d = _Draft()
    owned, owned_cap = _owned(catalog, req, model, hw, factory, d)
    cloud, cloud_cap, c_hw = _cloud(catalog, req, factory, d)
    api = _api(catalog, req, model, d)
    reasons = {name: m.reason for name, m in d.missing.items()}
    inputs = CostInputs(w, owned, owned_cap, cloud, cloud_cap, api, reasons)
    sizing: dict[str, str] = {}
    for name, cap, dev in (("owned", owned_cap, hw), ("cloud", cloud_cap, c_hw)):
        o = option_cost(inputs, name)
        if cap is not None and o is not None:
            sizing[name] = sizing_sentence(w, cap, dev.name, o.replicas)
    source = "measured" if req.tokens_per_s is not None else "forecast"
    return CostPlan(req, inputs, d.quotes, d.labels, sizing, source, dict(d.missing), d.substitute)


def _owned(catalog: Catalog, req: CostRequest, model, hw, factory: ForecastFactory, d: _Draft):
    """The owned option's prices with their sources and its capacity, or what is missing."""
    quotes = d.quotes
    d.labels["owned"] = _label(model.name, req.quant, req.gpus, hw.name)
    if req.hardware_price_usd is not None:
        quotes["hardware_price_usd"] = Quote(req.hardware_price_usd, "typed in", None, hw.name)
    elif hw.price_usd is not None:
        quotes["hardware_price_usd"] = Quote(
            hw.price_usd, hw.field_sources.get("price_usd", hw.source), hw.as_of.isoformat(), hw.price_note or hw.name
        )
    else:
        quotes["hardware_price_usd"] = Quote(None, f"no price for {hw.id} in the catalog")
        d.missing["owned"] = MissingInput(
            "hardware_price", f"no purchase price for {hw.name} in the catalog", ("hardware_price_usd",)
        )
    if req.power_watts is not None:
        quotes["power_watts"] = Quote(req.power_watts, "typed in", None, hw.name)
    elif hw.tdp_watts is not None:
        quotes["power_watts"] = Quote(
            hw.tdp_watts, hw.field_sources.get("tdp_watts", hw.source), hw.as_of.isoformat(), f"{hw.name} TDP"
        )
    else:
        quotes["power_watts"] = Quote(None, f"no power figure for {hw.id} in the catalog")
        d.missing.setdefault(
            "owned", MissingInput("power", f"no power figure for {hw.name} in the catalog", ("power_watts",))
        )
    if "owned" in d.missing:
        return None, None
    try:
        cap = _capacity(catalog, req, model.id, req.quant, hw.id, req.engine, req.gpus, factory, req.tokens_per_s)
    except ValueError as e:  # no forecast for this case (does not fit, unknown class, ...)
        d.missing["owned"] = MissingInput(
            "owned_throughput", f"no throughput for {model.name} on {hw.name}: {e}", ("tokens_per_s",)
        )
        return None, None
    owned = OwnedHardware(
        price_usd=quotes["hardware_price_usd"].value,
        busy_watts=quotes["power_watts"].value,
        idle_watts=req.idle_watts,
        amortization_months=req.amortization_months,
        electricity_usd_per_kwh=req.electricity_usd_per_kwh,
        pue=req.pue,
        cost_of_capital=req.cost_of_capital,
        fixed_usd_per_month=req.fixed_usd_per_month,
        label=d.labels["owned"],
    )
    return owned, cap


def _cloud(catalog: Catalog, req: CostRequest, factory: ForecastFactory, d: _Draft):
    """The cloud option: the rented GPU, its hourly price with its source and the replica's capacity."""
    c_model = catalog.model(req.cloud_model or req.model)
    c_quant = req.cloud_quant or default_cloud_quant(catalog, req.quant, req.cloud_engine)
    c_gpus = req.cloud_gpus or req.gpus
    c_hw = cloud_hardware_for(catalog, req)
    d.labels["cloud"] = _label(c_model.name, c_quant, c_gpus, c_hw.name)
    price = _pick(cloud_prices_for(catalog, c_hw.id), req.cloud_provider, f"cloud {c_hw.id}")
    if req.cloud_usd_per_hour is not None:
        d.quotes["cloud_usd_per_gpu_hour"] = Quote(req.cloud_usd_per_hour, "typed in", None, c_hw.name)
    elif price is not None:
        d.quotes["cloud_usd_per_gpu_hour"] = Quote(
            price.usd_per_gpu_hour,
            price.source,
            price.as_of.isoformat(),
            f"{price.provider}: {price.offering or c_hw.name}",
        )
    else:
        d.quotes["cloud_usd_per_gpu_hour"] = Quote(None, f"no cloud price for {c_hw.id} in the catalog")
        d.missing["cloud"] = MissingInput(
            "cloud_price", f"no cloud price for {c_hw.name} in the catalog", ("cloud_usd_per_hour",)
        )
        return None, None, c_hw
    try:
        cap = _capacity(
            catalog, req, c_model.id, c_quant, c_hw.id, req.cloud_engine, c_gpus, factory, req.cloud_tokens_per_s
        )
    except ValueError as e:
        d.missing["cloud"] = MissingInput(
            "cloud_throughput",
            f"no throughput forecast for {c_model.name} on {c_hw.name}: {e}",
            ("cloud_tokens_per_s",),
        )
        return None, None, c_hw
    return CloudGpu(d.quotes["cloud_usd_per_gpu_hour"].value, req.scale_to_zero, d.labels["cloud"]), cap, c_hw


def _api(catalog: Catalog, req: CostRequest, model, d: _Draft) -> HostedApi | None:
    """The hosted-API option: typed prices, the model's catalog price, or the nearest hosted model's (labelled)."""
    w = req.workload
    typed = (req.api_input_usd_per_mtok, req.api_output_usd_per_mtok)
    if (typed[0] is None) != (typed[1] is None):
        raise HalfApiPrice(
            "give both the hosted API's input and output price per million tokens, or neither",
            ("api_input_usd_per_mtok", "api_output_usd_per_mtok"),
        )
    a_model = catalog.model(req.api_model or req.model)
    prices = api_prices_for(catalog, a_model.id, w)
    if not prices and typed[0] is None and req.api_model is None:
        near = nearest_hosted_model(catalog, a_model.id, w)
        if near is not None:  # compare with the nearest hosted model rather than leave the column empty
            sub = catalog.model(near)
            d.substitute = HostedSubstitute(
                a_model.id, sub.id, f"nobody hosts {a_model.name}; nearest hosted: {sub.name}"
            )
            a_model, prices = sub, api_prices_for(catalog, sub.id, w)
    ap = _pick(prices, req.api_provider, f"API {a_model.id}")
    via = f"{a_model.name} via {ap.provider}" if ap and typed[0] is None else f"{a_model.name} via a hosted API"
    d.labels["api"] = f"{via}: nearest hosted model (nobody hosts {model.name})" if d.substitute else via
    if typed[0] is not None:
        cached = req.api_cached_input_usd_per_mtok
        d.quotes["api_usd_per_mtok_input"] = Quote(typed[0], "typed in")
        d.quotes["api_usd_per_mtok_output"] = Quote(typed[1], "typed in")
        d.quotes["api_usd_per_mtok_cached_input"] = Quote(cached, "typed in" if cached is not None else "none given")
    elif ap is not None:
        src, as_of = ap.source, ap.as_of.isoformat()
        cached = req.api_cached_input_usd_per_mtok
        cached = ap.usd_per_mtok_cached_input if cached is None else cached
        d.quotes["api_usd_per_mtok_input"] = Quote(ap.usd_per_mtok_input, src, as_of, ap.provider)
        d.quotes["api_usd_per_mtok_output"] = Quote(ap.usd_per_mtok_output, src, as_of, ap.provider)
        d.quotes["api_usd_per_mtok_cached_input"] = Quote(
            cached, src if cached is not None else "none in the catalog", as_of, ap.provider
        )
    else:
        d.missing["api"] = MissingInput(
            "api_price",
            f"no hosted-API price for {a_model.name} in the catalog",
            ("api_input_usd_per_mtok", "api_output_usd_per_mtok"),
        )
        return None
    q = d.quotes
    return HostedApi(
        q["api_usd_per_mtok_input"].value,
        q["api_usd_per_mtok_output"].value,
        q["api_usd_per_mtok_cached_input"].value,
        d.labels["api"],
    )
