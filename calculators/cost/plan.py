"""Resolve a cost request against the catalog into priced inputs for all three options."""

from __future__ import annotations

from calculators.cost.capacity import (
    ForecastFactory,
    capacity_from_forecast,
    capacity_from_measured,
    default_forecast_factory,
    sizing_sentence,
)
from calculators.cost.compare import CostInputs, option_cost
from calculators.cost.inputs import Capacity, CloudGpu, HostedApi, OwnedHardware, _check
from calculators.cost.prices import _pick, api_prices_for, cloud_hardware_for, cloud_prices_for, default_cloud_quant
from calculators.cost.request import CostPlan, CostRequest, Quote
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
    )
    return capacity_from_forecast(at, w, gpus)


def _label(model_name: str, quant: str, gpus: int, hardware_name: str) -> str:
    """'Gemma 4 31B AWQ on 2 x NVIDIA A100 80GB' (no count for one device)."""
    return f"{model_name} {quant} on {f'{gpus} x ' if gpus > 1 else ''}{hardware_name}"


def plan_costs(catalog: Catalog, req: CostRequest, forecast_factory: ForecastFactory | None = None) -> CostPlan:
    """Resolve a request against the catalog: prices (typed or catalog, with sources), capacities, sizing."""
    factory = forecast_factory or default_forecast_factory
    w = req.workload
    model = catalog.model(req.model)
    hw = catalog.device(req.hardware)
    catalog.quant(req.quant)
    _check(req.gpus >= 1, "--gpus must be >= 1")
    quotes: dict[str, Quote] = {}
    missing: dict[str, str] = {}
    labels: dict[str, str] = {}
    sizing: dict[str, str] = {}

    # Owned.
    owned = owned_cap = None
    labels["owned"] = _label(model.name, req.quant, req.gpus, hw.name)
    if req.hardware_price_usd is not None:
        quotes["hardware_price_usd"] = Quote(req.hardware_price_usd, "typed in", None, hw.name)
    elif hw.price_usd is not None:
        quotes["hardware_price_usd"] = Quote(
            hw.price_usd, hw.field_sources.get("price_usd", hw.source), hw.as_of.isoformat(), hw.price_note or hw.name
        )
    else:
        quotes["hardware_price_usd"] = Quote(None, f"no price for {hw.id} in the catalog")
        missing["owned"] = f"no purchase price for {hw.id} in the catalog; pass --hardware-price-usd"
    if req.power_watts is not None:
        quotes["power_watts"] = Quote(req.power_watts, "typed in", None, hw.name)
    elif hw.tdp_watts is not None:
        quotes["power_watts"] = Quote(
            hw.tdp_watts, hw.field_sources.get("tdp_watts", hw.source), hw.as_of.isoformat(), f"{hw.name} TDP"
        )
    else:
        quotes["power_watts"] = Quote(None, f"no power figure for {hw.id} in the catalog")
        missing.setdefault("owned", f"no power figure for {hw.id} in the catalog; pass --power-watts")
    if "owned" not in missing:
        try:
            owned_cap = _capacity(
                catalog, req, model.id, req.quant, hw.id, req.engine, req.gpus, factory, req.tokens_per_s
            )
        except ValueError as e:  # no forecast for this case (does not fit, unknown class, ...)
            missing["owned"] = f"no throughput for {model.id} on {hw.id}: {e}; pass --tokens-per-s"
    if "owned" not in missing:
        owned = OwnedHardware(
            price_usd=quotes["hardware_price_usd"].value,
            busy_watts=quotes["power_watts"].value,
            idle_watts=req.idle_watts,
            amortization_months=req.amortization_months,
            electricity_usd_per_kwh=req.electricity_usd_per_kwh,
            pue=req.pue,
            cost_of_capital=req.cost_of_capital,
            fixed_usd_per_month=req.fixed_usd_per_month,
            label=labels["owned"],
        )

    # Cloud.
    cloud = cloud_cap = None
    c_model = catalog.model(req.cloud_model or req.model)
    c_quant = req.cloud_quant or default_cloud_quant(catalog, req.quant, req.cloud_engine)
    c_gpus = req.cloud_gpus or req.gpus
    c_hw = cloud_hardware_for(catalog, req)
    labels["cloud"] = _label(c_model.name, c_quant, c_gpus, c_hw.name)
    price = _pick(cloud_prices_for(catalog, c_hw.id), req.cloud_provider, f"cloud {c_hw.id}")
    if req.cloud_usd_per_hour is not None:
        quotes["cloud_usd_per_gpu_hour"] = Quote(req.cloud_usd_per_hour, "typed in", None, c_hw.name)
    elif price is not None:
        quotes["cloud_usd_per_gpu_hour"] = Quote(
            price.usd_per_gpu_hour,
            price.source,
            price.as_of.isoformat(),
            f"{price.provider}: {price.offering or c_hw.name}",
        )
    else:
        quotes["cloud_usd_per_gpu_hour"] = Quote(None, f"no cloud price for {c_hw.id} in the catalog")
        missing["cloud"] = f"no cloud price for {c_hw.id} in the catalog; pass --cloud-usd-per-hour"
    if "cloud" not in missing:
        try:
            cloud_cap = _capacity(
                catalog, req, c_model.id, c_quant, c_hw.id, req.cloud_engine, c_gpus, factory, req.cloud_tokens_per_s
            )
        except ValueError as e:
            missing["cloud"] = f"no throughput forecast for {c_model.id} on {c_hw.id}: {e}"
    if "cloud" not in missing:
        cloud = CloudGpu(quotes["cloud_usd_per_gpu_hour"].value, req.scale_to_zero, labels["cloud"])

    # Hosted API.
    api = None
    a_model = catalog.model(req.api_model or req.model)
    ap = _pick(api_prices_for(catalog, a_model.id, w), req.api_provider, f"API {a_model.id}")
    labels["api"] = (
        f"{a_model.name} via {ap.provider}"
        if ap and req.api_input_usd_per_mtok is None
        else f"{a_model.name} via a hosted API"
    )
    typed = (req.api_input_usd_per_mtok, req.api_output_usd_per_mtok)
    if (typed[0] is None) != (typed[1] is None):
        raise ValueError("give both --api-input-usd-per-mtok and --api-output-usd-per-mtok, or neither")
    if typed[0] is not None:
        quotes["api_usd_per_mtok_input"] = Quote(typed[0], "typed in")
        quotes["api_usd_per_mtok_output"] = Quote(typed[1], "typed in")
        cached = req.api_cached_input_usd_per_mtok
        quotes["api_usd_per_mtok_cached_input"] = Quote(cached, "typed in" if cached is not None else "none given")
    elif ap is not None:
        src, as_of = ap.source, ap.as_of.isoformat()
        quotes["api_usd_per_mtok_input"] = Quote(ap.usd_per_mtok_input, src, as_of, ap.provider)
        quotes["api_usd_per_mtok_output"] = Quote(ap.usd_per_mtok_output, src, as_of, ap.provider)
        cached = (
            req.api_cached_input_usd_per_mtok
            if req.api_cached_input_usd_per_mtok is not None
            else ap.usd_per_mtok_cached_input
        )
        quotes["api_usd_per_mtok_cached_input"] = Quote(
            cached, src if cached is not None else "none in the catalog", as_of, ap.provider
        )
    else:
        missing["api"] = (
            f"no hosted-API price for {a_model.id} in the catalog; pass --api-input-usd-per-mtok and "
            "--api-output-usd-per-mtok"
        )
    if "api" not in missing:
        api = HostedApi(
            quotes["api_usd_per_mtok_input"].value,
            quotes["api_usd_per_mtok_output"].value,
            quotes["api_usd_per_mtok_cached_input"].value,
            labels["api"],
        )

    inputs = CostInputs(w, owned, owned_cap, cloud, cloud_cap, api, missing)
    for name, cap, dev in (("owned", owned_cap, hw), ("cloud", cloud_cap, c_hw)):
        o = option_cost(inputs, name)
        if cap is not None and o is not None:
            sizing[name] = sizing_sentence(w, cap, dev.name, o.replicas)
    source = "measured" if req.tokens_per_s is not None else "forecast"
    return CostPlan(req, inputs, quotes, labels, sizing, source)
