"""Costs page view: the scenario's cost request (catalog prices, typed overrides, providers, measurements), the
three options side by side, break-evens and sensitivities. Home and the report render the same view.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from calculators.cost import (
    OPTIONS,
    Comparison,
    CostPlan,
    CostRequest,
    Sensitivity,
    Workload,
    api_prices_for,
    cloud_hardware_for,
    cloud_prices_for,
    compare,
    default_cloud_quant,
    measured_efficiency,
    measured_forecast_factory,
    plan_costs,
    sensitivities,
)
from model_specs import Catalog
from model_specs.schema import ApiPrice, CloudPrice, Hardware
from ui.scenario import Scenario
from ui.views.facts import SessionFacts

THROUGHPUT_LABELS = {"forecast": "forecast", "typed": "typed measurement", "probe": "stored probe run"}


@dataclass(frozen=True)
class CostView:
    """Every number the Costs page shows for one scenario (with this session's stored measurements)."""

    scenario: Scenario
    hardware: Hardware  # owned
    cloud_hardware: Hardware
    cloud_offers: list[CloudPrice]  # providers renting `cloud_hardware`, cheapest first
    cloud_provider: str | None  # the one priced (None = no catalog offer)
    api_model: str
    api_offers: list[ApiPrice]
    api_provider: str | None
    vllm_quants: list[str]
    automatic_cloud_quant: str  # what the cloud option runs when no quantization is chosen
    throughput_source: str  # "forecast", "typed", "probe": what the owned option's throughput comes from
    level: dict[str, Any] | None  # the stored probe level priced, with tput=probe
    efficiency: float | None  # the probe page's measured efficiency, where it applies to the owned option
    request: CostRequest
    plan: CostPlan | None
    error: str | None

    @property
    def cloud_seed_usd_per_hour(self) -> float | None:
        """The chosen provider's catalog price per GPU-hour."""
        return next((o.usd_per_gpu_hour for o in self.cloud_offers if o.provider == self.cloud_provider), None)

    @property
    def api_seed_usd_per_mtok(self) -> tuple[float | None, float | None]:
        """The chosen provider's catalog (input, output) USD per million tokens."""
        o = next((o for o in self.api_offers if o.provider == self.api_provider), None)
        return (None, None) if o is None else (o.usd_per_mtok_input, o.usd_per_mtok_output)

    @cached_property
    def comparison(self) -> Comparison | None:
        """The three options at the scenario's volume, break-evens and payback."""
        return None if self.plan is None else compare(self.plan.inputs)

    @property
    def priced(self) -> list[str]:
        """Options with a price, in display order."""
        c = self.comparison
        return [] if c is None else [n for n in OPTIONS if c.options[n] is not None]

    @property
    def tornado_option(self) -> str | None:
        """The option the sensitivity chart is drawn for: the scenario's if priced, else the first priced."""
        return self.scenario.tor if self.scenario.tor in self.priced else next(iter(self.priced), None)

    @cached_property
    def sensitivities(self) -> list[Sensitivity]:
        """Each input moved by ± the scenario's percentage."""
        return sensitivities(self.plan.inputs, self.scenario.sens / 100)

    @property
    def fallback_label(self) -> str | None:
        """The cost plan's note when it priced a nearest hosted model instead of the scenario's (None if not)."""
        return getattr(self.plan, "api_fallback_label", None)

    @property
    def throughput_sentence(self) -> str:
        """Where the owned option's throughput comes from."""
        src = self.plan.throughput_source if self.throughput_source == "forecast" else "measured"
        if self.throughput_source != "forecast":
            src += f" ({THROUGHPUT_LABELS[self.throughput_source]})"
        return f"Throughput of the owned option: {src}; the cloud option always uses the speed forecast."


def level_key(level: dict[str, Any]) -> str:
    """A stored probe level as its link value, RUNID@CONCURRENCY."""
    return f"{level['run_id']}@{level['concurrency']}"


def base_request(s: Scenario, cat: Catalog) -> CostRequest:
    """The scenario as a cost request, before providers, typed API prices and measurements are applied."""
    return CostRequest(
        workload=Workload(
            s.in_mtok * 1e6,
            s.out_mtok * 1e6,
            peak_concurrency=s.conc,
            utilization=s.util,
            p95_ttft_s=s.ttft_s,
            min_user_tokens_per_s=s.user_tps,
        ),
        model=s.model,
        quant=s.quant,
        engine=s.engine,
        hardware=s.hw,
        gpus=s.gpus,
        context_tokens=min(s.ctx, cat.model(s.model).context_tokens),
        hardware_price_usd=s.hw_usd,
        amortization_months=s.months,
        cost_of_capital=s.coc / 100,
        power_watts=s.watts,
        electricity_usd_per_kwh=s.kwh,
        pue=s.pue,
        fixed_usd_per_month=s.fixed,
        cloud_hardware=s.cloud_hw if s.cloud_hw in cat.hardware else None,
        cloud_model=s.cloud_model if s.cloud_model in cat.models else None,
        cloud_usd_per_hour=s.cloud_hr,
        scale_to_zero=s.s2z,
        api_model=s.api_model if s.api_model in cat.models else None,
        cloud_quant=s.cloud_q,
    )


def _provider(offers: list[Any], wanted: str | None) -> str | None:
    """The scenario's provider when it offers this, else the catalog's first (cheapest)."""
    names = [o.provider for o in offers]
    return wanted if wanted in names else (names[0] if names else None)


def _measured(s: Scenario, facts: SessionFacts) -> tuple[str, float | None, int | None, dict[str, Any] | None]:
    """(throughput source, measured aggregate tokens/s, its concurrency, the stored level) of the owned option."""
    if s.tput == "typed":
        return "typed", s.meas_tps, None, None
    if s.tput == "probe" and facts.rate_levels:
        level = next((lv for lv in facts.rate_levels if level_key(lv) == s.meas_run), facts.rate_levels[0])
        return "probe", float(level["tokens_per_s"]), int(level["concurrency"]), level
    return "forecast", None, None, None


def build_cost_view(s: Scenario, cat: Catalog, facts: SessionFacts | None = None) -> CostView:
    """The Costs page's view of `s`."""
    facts = facts or SessionFacts()
    hw = cat.device(s.hw)
    source, tps, conc, level = _measured(s, facts)
    req = replace(base_request(s, cat), tokens_per_s=tps, measured_concurrency=conc)
    c_hw = cloud_hardware_for(cat, req)
    c_offers = cloud_prices_for(cat, c_hw.id)
    c_prov = _provider(c_offers, s.cloud_prov)
    a_model = req.api_model or s.model
    a_offers = api_prices_for(cat, a_model, req.workload)
    a_prov = _provider(a_offers, s.api_prov)
    req = replace(req, cloud_provider=c_prov, api_provider=a_prov)
    seed = next(((o.usd_per_mtok_input, o.usd_per_mtok_output) for o in a_offers if o.provider == a_prov), (None, None))
    # A price typed for one side keeps the catalog price of the other.
    typed_in = s.api_in if s.api_in is not None else seed[0]
    typed_out = s.api_out if s.api_out is not None else seed[1]
    if (s.api_in is not None or s.api_out is not None) and typed_in is not None and typed_out is not None:
        req = replace(req, api_input_usd_per_mtok=typed_in, api_output_usd_per_mtok=typed_out)
    eff = measured_efficiency(facts.probe_choice, cat.model(s.model).id, s.quant, hw.id, s.engine)
    try:
        plan, err = plan_costs(cat, req, measured_forecast_factory(facts.probe_choice)), None
    except (ValueError, KeyError) as e:
        plan, err = None, str(e.args[0] if e.args else e)
    return CostView(
        s,
        hw,
        c_hw,
        c_offers,
        c_prov,
        a_model,
        a_offers,
        a_prov,
        [q.id for q in cat.quants.values() if "vllm" in q.engines],
        default_cloud_quant(cat, s.quant, "vllm"),
        source,
        level,
        eff if tps is None else None,  # a typed or stored rate replaces the forecast altogether
        req,
        plan,
        err,
    )
