"""Costs page view: the scenario's cost request (catalog prices, typed overrides, providers, measurements), the
three options side by side, break-evens and sensitivities. Home and the report render the same view.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from calculators.cost import (
    OPTIONS,
    Comparison,
    CostPlan,
    CostRequest,
    MeasuredCapacity,
    Sensitivity,
    SloCost,
    SloCostError,
    SloReplicas,
    Workload,
    api_prices_for,
    cloud_hardware_for,
    cloud_prices_for,
    cloud_slo_cost,
    compare,
    default_cloud_quant,
    measured_efficiency,
    measured_forecast_factory,
    nearest_hosted_model,
    owned_slo_cost,
    plan_costs,
    prefix_cached_input_share,
    sensitivities,
    slo_replicas,
)
from model_specs import Catalog
from model_specs.schema import ApiPrice, CloudPrice, Hardware
from ui.scenario import Scenario
from ui.views.facts import SessionFacts, capacity_run, run_request
from ui.views.speed import request_tokens, simulated_capacity

SLO_OPTIONS = ("owned", "cloud")
FORECAST_COST_MODEL = "forecast (cost model, your latency target)"  # what the side-by-side options above use


def _capacity_words(c: MeasuredCapacity | None) -> str:
    """'4 users per replica' or '2.5 requests/s per replica' ('at least' when the search's maximum passed)."""
    if c is None:
        return "none"
    v = f"{c.value:,.0f}" if c.search == "concurrency" else f"{c.value:,.3g}"
    return f"{'at least ' if c.at_least else ''}{v} {c.unit} per replica"


@dataclass(frozen=True)
class SloView:
    """The scenario priced at a stored capacity run's SLO: measured users or requests/s per replica."""

    run: dict[str, Any]  # the stored capacity run: id, created_at, endpoint, backend, model, capacity
    capacity: MeasuredCapacity | None
    replicas: SloReplicas | None
    costs: dict[str, SloCost]  # "owned", "cloud" where the forecast plan priced them
    error: str | None = None  # why the run cannot be priced, in plain words
    simulated: MeasuredCapacity | None = None  # the simulator's capacity for the scenario at the run's SLO
    simulated_costs: dict[str, SloCost] = field(default_factory=dict)  # "owned" only: the hardware it simulated

    @property
    def label(self) -> str:
        """'measured on <endpoint>, <date>'."""
        when = self.run.get("created_at")
        day = when.date().isoformat() if hasattr(when, "date") else str(when or "")[:10]
        return f"measured on {self.run['endpoint']}, {day}"

    @property
    def slo_words(self) -> str:
        """The run's SLO in words: its targets and the share of requests that must meet them."""
        slo = self.run["capacity"].get("slo") or {}
        names = {"ttft_s": "TTFT", "tpot_s": "time per output token", "e2e_s": "end to end"}
        parts = [f"{n} <= {slo[k] * 1e3:,.0f} ms" for k, n in names.items() if slo.get(k)]
        share = f" for {slo['attainment']:.0%} of requests" if slo.get("attainment") else ""
        return (" and ".join(parts) or "no target") + share

    @property
    def capacity_words(self) -> str:
        """'4 users' or '2.5 requests/s' per replica ('at least' when the search's maximum passed)."""
        return _capacity_words(self.capacity)

    def sentence(self, option: str) -> str | None:
        """'At the SLO (measured on <endpoint>, <date>): N replicas, $X a month, $Y per million output tokens'."""
        c = self.costs.get(option)
        if c is None:
            return None
        per = "—" if c.usd_per_mtok_output is None else f"${c.usd_per_mtok_output:,.4f}"
        return (
            f"At the SLO ({self.label}): {c.replicas:,} replica{'' if c.replicas == 1 else 's'}, "
            f"${c.usd_per_month:,.2f} a month, {per} per million output tokens"
        )


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
    slo: SloView | None = None  # the scenario at a stored capacity run's SLO (cap_run), measured
    slo_notice: str | None = None  # why cap_run was ignored
    capacity_runs: tuple[dict[str, Any], ...] = ()  # stored capacity runs the page offers

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
        sub = None if self.plan is None else self.plan.api_substitute
        return None if sub is None else sub.label

    def forecast_per_mtok_output(self, option: str) -> float | None:
        """The forecast option's USD per million output tokens (for the forecast vs measured table)."""
        o = None if self.comparison is None else self.comparison.options.get(option)
        out = self.request.workload.monthly_output_tokens
        return None if o is None or out <= 0 else o.usd_per_month / out * 1e6

    def capacity_bars(self) -> list[tuple[str, float]]:
        """(source, capacity per replica in the run's unit): forecast (cost model, users only), simulated, measured."""
        slo, rows = self.slo, []
        if slo is None or slo.capacity is None:
            return []
        own = None if self.plan is None else self.plan.inputs.owned_capacity
        if slo.capacity.search == "concurrency" and own is not None:
            rows.append((FORECAST_COST_MODEL, float(own.users_per_replica)))
        if slo.simulated is not None:
            rows.append(("forecast (simulated at the run's SLO)", float(slo.simulated.value)))
        rows.append((f"measured (run {slo.run['id']})", float(slo.capacity.value)))
        return rows

    def slo_rows(self) -> list[dict[str, Any]]:
        """Forecast vs measured capacity per replica, with the replicas and money each gives (owned, rented)."""
        if self.slo is None or self.plan is None or self.comparison is None:
            return []
        i, rows = self.plan.inputs, []
        for name in SLO_OPTIONS:
            cap, o = (i.owned_capacity, i.cloud_capacity)[name == "cloud"], self.comparison.options.get(name)
            if cap is not None and o is not None:
                per = f"{cap.users_per_replica:,} users, {cap.output_tokens_per_s:,.0f} output tokens/s"
                rows.append(
                    _slo_row(
                        name, FORECAST_COST_MODEL, per, o.replicas, o.usd_per_month, self.forecast_per_mtok_output(name)
                    )
                )
            c, sim = self.slo.simulated_costs.get(name), self.slo.simulated
            if c is not None and sim is not None:
                per = f"{_capacity_words(sim)}, {sim.goodput_output_tokens_per_s:,.0f} goodput tokens/s"
                rows.append(
                    _slo_row(
                        name,
                        "forecast (simulated at the run's SLO)",
                        per,
                        c.replicas,
                        c.usd_per_month,
                        c.usd_per_mtok_output,
                    )
                )
            c = self.slo.costs.get(name)
            if c is not None:
                per = (
                    f"{self.slo.capacity_words}, {self.slo.capacity.goodput_output_tokens_per_s:,.0f} goodput tokens/s"
                )
                src = f"measured (run {self.slo.run['id']})"
                rows.append(_slo_row(name, src, per, c.replicas, c.usd_per_month, c.usd_per_mtok_output))
        return rows

    @property
    def throughput_sentence(self) -> str:
        """Where the owned option's throughput comes from."""
        src = self.plan.throughput_source if self.throughput_source == "forecast" else "measured"
        if self.throughput_source != "forecast":
            src += f" ({THROUGHPUT_LABELS[self.throughput_source]})"
        return f"Throughput of the owned option: {src}; the cloud option always uses the speed forecast."


def _slo_row(option: str, source: str, per_replica: str, replicas: int, usd: float, per_mtok: float | None) -> dict:
    return {
        "option": option,
        "capacity": source,
        "per replica": per_replica,
        "replicas": replicas,
        "usd_per_month": round(usd, 2),
        "usd_per_mtok_output": None if per_mtok is None else round(per_mtok, 4),
    }


def level_key(level: dict[str, Any]) -> str:
    """A stored probe level as its link value, RUNID@CONCURRENCY."""
    return f"{level['run_id']}@{level['concurrency']}"


def base_request(s: Scenario, cat: Catalog) -> CostRequest:
    """The scenario as a cost request, before providers, typed API prices and measurements are applied; requests
    have the Speed page's prompt, output and cached prefix, so both pages forecast the same load."""
    ctx = min(s.ctx, cat.model(s.model).context_tokens)
    prompt, output = request_tokens(s, ctx)
    return CostRequest(
        workload=Workload(
            s.in_mtok * 1e6,
            s.out_mtok * 1e6,
            peak_concurrency=s.conc,
            utilization=s.util,
            p95_ttft_s=s.ttft_s,
            min_user_tokens_per_s=s.user_tps,
            cached_input_share=prefix_cached_input_share(s.pfx, prompt),  # the API caches the shared prefix too
        ),
        model=s.model,
        quant=s.quant,
        engine=s.engine,
        hardware=s.hw,
        gpus=s.gpus,
        context_tokens=ctx,
        prompt_tokens=prompt,
        output_tokens=output,
        cached_prefix_tokens=min(s.pfx, prompt),
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


def _slo_costs(plan: CostPlan, cap: MeasuredCapacity, options: tuple[str, ...] = SLO_OPTIONS) -> dict[str, SloCost]:
    """The plan's owned hardware and rented GPU (those in `options`) priced at `cap` per replica."""
    i, costs = plan.inputs, {}
    if "owned" in options and i.owned is not None and i.owned_capacity is not None:
        costs["owned"] = owned_slo_cost(i.workload, cap, i.owned, i.owned_capacity.gpus_per_replica)
    if "cloud" in options and i.cloud is not None and i.cloud_capacity is not None:
        costs["cloud"] = cloud_slo_cost(i.workload, cap, i.cloud, i.cloud_capacity.gpus_per_replica)
    return costs


def slo_view(run: dict[str, Any], plan: CostPlan | None, simulated: dict[str, Any] | None = None) -> SloView:
    """The plan's workload priced at the run's measured capacity per replica (and at the simulator's, same SLO)."""
    sim = sim_costs = None
    try:
        sim = MeasuredCapacity.from_probe(simulated) if simulated else None
        # The simulator ran the scenario's own hardware: it prices the owned option only.
        sim_costs = _slo_costs(plan, sim, ("owned",)) if sim is not None and plan is not None else {}
    except SloCostError:
        sim, sim_costs = None, {}  # the simulator found no capacity at this SLO: only the measured row is shown
    try:
        cap = MeasuredCapacity.from_probe(run["capacity"])
        if plan is None:
            return SloView(run, cap, None, {}, None, sim, sim_costs)
        return SloView(run, cap, slo_replicas(plan.inputs.workload, cap), _slo_costs(plan, cap), None, sim, sim_costs)
    except SloCostError as e:
        return SloView(run, None, None, {}, str(e), sim, sim_costs)


def _simulated(s: Scenario, cat: Catalog, run: dict[str, Any]) -> dict[str, Any] | None:
    """The simulator's capacity for the scenario at the run's SLO and search, for the requests the run sent (None
    without a target)."""
    c = run.get("capacity") or {}
    return simulated_capacity(s, cat, c.get("slo") or {}, c.get("search", ""), run_request(run))


def build_cost_view(s: Scenario, cat: Catalog, facts: SessionFacts | None = None) -> CostView:
    """The Costs page's view of `s`."""
    facts = facts or SessionFacts()
    hw = cat.device(s.hw)
    source, tps, conc, level = _measured(s, facts)
    req = replace(base_request(s, cat), tokens_per_s=tps, measured_concurrency=conc)
    c_hw = cloud_hardware_for(cat, req)
    c_offers = cloud_prices_for(cat, c_hw.id)
    c_prov = _provider(c_offers, s.cloud_prov)
    # Nobody hosts the model: the plan prices the nearest hosted one, so offer that model's providers.
    a_model = req.api_model or (
        s.model if api_prices_for(cat, s.model) else (nearest_hosted_model(cat, s.model) or s.model)
    )
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
    run, notice = capacity_run(facts, s.cap_run)  # Costs prices a capacity run only when the link names one
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
        None if run is None else slo_view(run, plan, _simulated(s, cat, run)),
        notice,
        facts.capacity_runs,
    )
