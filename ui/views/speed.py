"""Speed page view: the scenario's forecast with its ranges, every variant on the device, concurrency, depth, roofline.

The model is the one the Memory page sizes: the scenario's own (GGUF location or Hub id, ui/views/byo.py, read once
and cached there) with its exact weights, else the sidebar's catalog model.
Session facts that are not in the link (the probe page's "use my measurement" choice, a stored probe run) come in
as `SessionFacts`, gathered by the page; Home and the report pass the same, so they show the page's figures.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from calculators import cpu as cpu_model
from calculators.guide import ENGINE_QUANTS
from calculators.memory import WeightBreakdown
from calculators.serving.forecast import (
    ServingSetup,
    batched_depth,
    fields_of,
    implied_efficiency,
    latency_curve,
    served_forecast,
    serving_setup,
    simulated_points,
    under_load,
)
from calculators.serving.metrics import capacity
from calculators.serving.simulator import Slo
from calculators.speed import (
    ConcurrencyPoint,
    SpeedForecast,
    calibration,  # noqa: F401 - the fit's figures the page quotes
    class_of,
    concurrency_curve,
    decode_vs_depth,
    device_from_hardware,
    forecast,
    mean_depth_tokens,
    roofline,
)
from calculators.speed.geometry import wo_key
from model_specs import Catalog
from model_specs.schema import Hardware, ModelSpec
from ui.scenario import Scenario
from ui.views import memo
from ui.views.byo import ByoResult, resolve_byo
from ui.views.facts import SessionFacts, capacity_run, run_request

DEFAULT_PROMPT_TOKENS = 512
DEFAULT_OUTPUT_TOKENS = 256
SLO_ATTAINMENT = 0.95  # the scenario's TTFT target is a p95: 95 % of requests must meet every target
SEARCH_MAX_USERS = 1024


def request_tokens(s: Scenario, ctx: int) -> tuple[int, int]:
    """(prompt, output) tokens of one request: the scenario's, else min(512, ctx/2) and min(256, the rest)."""
    prompt = min(s.prompt if s.prompt is not None else min(DEFAULT_PROMPT_TOKENS, ctx // 2), max(0, ctx - 1))
    rest = max(1, ctx - prompt)
    output = min(s.out_tok if s.out_tok is not None else min(DEFAULT_OUTPUT_TOKENS, rest), rest)
    return prompt, output


@dataclass(frozen=True)
class ServingView:
    """The scheduler simulation of the scenario: latency at its concurrency, against load, and capacity at its SLO."""

    concurrency: int
    slo: Slo | None  # from the scenario's latency targets (p95 TTFT, tokens/s per user); None: no target set
    fields: dict  # serving_fields() at the scenario's concurrency (ttft_s_p50/p95, itl_s, decode_aggregate...)
    capacity_users: dict | None  # the probe's capacity object, concurrency search (None without an SLO)
    capacity_rate: dict | None  # the same, Poisson-rate search
    curve: list[dict]  # latency_curve(): p95 TTFT and ITL per number of users
    notes: tuple[str, ...] = ()
    error: str | None = None
    # The measured `capacity` object of a stored probe capacity run (cap_run, else the newest for this model), drawn
    # on the same chart as the forecast; `measured_label` says where and when it was measured.
    measured_capacity: dict | None = None
    measured_label: str | None = None
    setup: ServingSetup | None = None  # the step model and scheduler simulated (None when it could not be built)


@dataclass(frozen=True)
class SpeedView:
    """Every number the Speed page shows for one scenario."""

    scenario: Scenario
    model: ModelSpec
    hardware: Hardware
    context_tokens: int
    prompt_tokens: int
    output_tokens: int
    facts: SessionFacts
    efficiency_override: float | None  # bandwidth efficiency taken from a measurement, if any
    override_from_probe_page: bool  # the override came from the probe page's choice (not this page's toggle)
    forecast: SpeedForecast | None
    error: str | None
    byo: ByoResult = ByoResult()  # the scenario's own model (Memory page), forecast instead of the catalog's

    @property
    def weights(self) -> WeightBreakdown | None:
        """The own model's exact weights (an actual file's), else None: the calculator's recipe for the quant."""
        return self.byo.byo.weights if self.byo.byo is not None else None

    @cached_property
    def cpu(self) -> cpu_model.CpuCores | None:
        """The CPU the CPU decode model runs on (a CPU-only device with a catalog `cpu` block), else None."""
        if class_of(device_from_hardware(self.hardware)) != "cpu":
            return None
        return cpu_model.cores_from_hardware(self.hardware)

    @cached_property
    def default_threads(self) -> int | None:
        """Threads the engine takes by itself on this CPU (llama.cpp -t unset); None without a `cpu` block."""
        return cpu_model.default_threads(self.cpu, self.scenario.engine) if self.cpu is not None else None

    @property
    def threads(self) -> int | None:
        """CPU threads the forecasts are made for: the scenario's on a CPU with a `cpu` block (None = default)."""
        return self.scenario.thr if self.cpu is not None else None

    @property
    def mean_depth_tokens(self) -> int:
        """Tokens in context at the answer's middle, where the headline decodes and a measurement is placed."""
        return mean_depth_tokens(self.prompt_tokens, self.output_tokens)

    @property
    def cached_prefix_tokens(self) -> int:
        """Leading prompt tokens every request finds in the engine's prefix cache (the scenario's, up to the prompt)."""
        return min(self.scenario.pfx, self.prompt_tokens)

    @property
    def context_capped(self) -> bool:
        """Whether the scenario asked for more context than the model supports."""
        return self.context_tokens < self.scenario.ctx

    @property
    def own_model_caption(self) -> str | None:
        """Which own model (Memory page: `gguf`, `hf`) is forecast, or why it could not be; None without one."""
        r = self.byo
        if r.byo is not None:
            return f"Forecast for {r.label}, the model brought on the Memory page: {r.byo.summary}."
        if r.error:
            return f"{r.label} cannot be read ({r.error}): speed is forecast for the catalog model {self.model.name}."
        return None

    def _common(self) -> dict[str, Any]:
        s = self.scenario
        return dict(
            engine=s.engine,
            context_tokens=self.context_tokens,
            prompt_tokens=self.prompt_tokens,
            output_tokens=self.output_tokens,
            gpus=s.gpus,
            kv_dtype=s.kv,
            efficiency_override=self.efficiency_override,
            threads=self.threads,
            weights_override=self.weights,
        )

    @cached_property
    def serving(self) -> ServingView:
        """The scheduler simulation at the scenario's concurrency and SLO (memoised per scenario)."""
        s = self.scenario
        key = (
            self.model.id,
            wo_key(self.weights),
            s.quant,
            s.hw,
            s.engine,
            self.context_tokens,
            self.prompt_tokens,
            self.output_tokens,
            s.conc,
            s.gpus,
            s.kv,
            s.ttft_s,
            s.user_tps,
            self.efficiency_override,
            self.threads,
            self.cached_prefix_tokens,
        )
        # The model object guards the memo as the catalog does elsewhere: a reloaded catalog gives new objects.
        view = memo(_SERVING, key, self.model, lambda: _serving(self.model, self.hardware, self.weights, *key[2:]))
        run, notice = capacity_run(self.facts, s.cap_run, (s.served or "", s.model))
        if notice:
            view = replace(view, notes=(*view.notes, notice))
        if run is not None:
            day = str(run["created_at"])[:10]
            label = f"probe run {run['id']} of {run['model']} on {run['endpoint']}, {day}"
            req, mine = run_request(run), (self.prompt_tokens, self.output_tokens, self.cached_prefix_tokens)
            if req is not None and req != mine:  # a capacity depends on the request: say when they differ
                label += f"; its requests: {_request_words(req)}, the forecast's: {_request_words(mine)}"
            view = replace(view, measured_capacity=run["capacity"], measured_label=label)
        return view

    @cached_property
    def variant_quants(self) -> list[str]:
        """The scenario's format, then the engine's 4-bit, 8-bit and published formats (as the guide ranks)."""
        return list(dict.fromkeys([self.scenario.quant, *ENGINE_QUANTS[self.scenario.engine]]))

    @cached_property
    def concurrency(self) -> list[ConcurrencyPoint]:
        """Aggregate and per-user speed as users are added, up to what fits in memory: closed loops simulated as
        the headline is (the closed form alone when the scenario cannot be simulated)."""
        s = self.scenario
        plain = concurrency_curve(self.model, s.quant, self.hardware, **self._common())
        su = self.serving.setup
        if su is None or (self.forecast is not None and self.forecast.host_fraction > 0):
            return plain
        return simulated_points(su, plain)

    @cached_property
    def depth(self) -> list[tuple[int, float, float, float]]:
        """(tokens in context, decode tokens/s, low, high) of one stream as the context fills, from the headline's
        step (the closed form alone when the scenario cannot be simulated)."""
        s = self.scenario
        plain = decode_vs_depth(
            self.model,
            s.quant,
            self.hardware,
            engine=s.engine,
            kv_dtype=s.kv,
            gpus=s.gpus,
            efficiency_override=self.efficiency_override,
            threads=self.threads,
            weights_override=self.weights,
        )
        su = self.serving.setup
        if su is None or (self.forecast is not None and self.forecast.host_fraction > 0):
            return plain
        return batched_depth(su, plain)

    @cached_property
    def roofline(self) -> dict:
        """Decode's arithmetic intensity and achieved FLOP/s per batch size, with the peak and fitted roofs."""
        s = self.scenario
        return roofline(
            self.model,
            s.quant,
            self.hardware,
            engine=s.engine,
            depth_tokens=self.mean_depth_tokens,
            kv_dtype=s.kv,
            efficiency_override=self.efficiency_override,
            threads=self.threads,
            weights_override=self.weights,
        )


def _override(
    s: Scenario, model: ModelSpec, hw: Hardware, depth: int, m: SessionFacts, wo: WeightBreakdown | None = None
) -> tuple[float | None, bool]:
    """(bandwidth efficiency from a measurement, taken at the answer's mean `depth`, or None; whether it came from
    the probe page's choice)."""
    if s.use_meas and m.stored_speed is not None:
        eff = implied_efficiency(
            model,
            s.quant,
            hw,
            m.stored_speed.decode_tokens_per_s,
            engine=s.engine,
            depth_tokens=depth,
            kv_dtype=s.kv,
            gpus=s.gpus,
            weights_override=wo,
        )
        return eff, False
    c = m.probe_choice or {}
    if (c.get("model"), c.get("quant"), c.get("hw"), c.get("engine")) == (model.id, s.quant, hw.id, s.engine):
        return c["efficiency_override"], True
    return None, False


def build_speed_view(s: Scenario, cat: Catalog, facts: SessionFacts | None = None) -> SpeedView:
    """The Speed page's view of `s` (with this session's measurements, if any), forecasting the scenario's own model
    (as the Memory page sizes it: the same cached read) when it has a readable one."""
    m = facts or SessionFacts()
    byo = resolve_byo(s)
    own = byo.byo
    model, hw = own.model if own else cat.model(s.model), cat.device(s.hw)
    wo = own.weights if own else None
    ctx = min(s.ctx, model.context_tokens)
    prompt, output = request_tokens(s, ctx)
    override, from_probe, f, err = None, False, None, None
    try:
        override, from_probe = _override(s, model, hw, mean_depth_tokens(prompt, output), m, wo)
        v = SpeedView(s, model, hw, ctx, prompt, output, m, override, from_probe, None, None, byo)
        f = forecast(model, s.quant, hw, concurrency=s.conc, cold_start=s.cold, **v._common())
        if v.serving.error is None:  # the headline under load is the scheduler simulation's
            f = under_load(f, v.serving.fields)
    except ValueError as e:
        err = str(e)
    return SpeedView(s, model, hw, ctx, prompt, output, m, override, from_probe, f, err, byo)


def _request_words(req: tuple[int, int, int]) -> str:
    """'2,000 + 64 tokens' (prompt + output), with ' (1,500 cached)' when part of the prompt is a cached prefix."""
    prompt, output, cached = req
    return f"{prompt:,} + {output:,} tokens" + (f" ({cached:,} cached)" if cached else "")


_VARIANTS: dict[tuple, tuple] = {}
_SERVING: dict[tuple, tuple] = {}


def scenario_slo(ttft_s: float | None, user_tps: float | None) -> Slo | None:
    """The scenario's latency targets as a per-request SLO: TTFT, and time per output token = 1 / tokens/s."""
    if ttft_s is None and user_tps is None:
        return None
    return Slo(ttft_s=ttft_s, tpot_s=1 / user_tps if user_tps else None)


def _serving(
    model, hw, wo, quant, _hw_id, engine, ctx, prompt, output, conc, gpus, kv, ttft_s, user_tps, eff, threads, pfx
) -> ServingView:
    slo = scenario_slo(ttft_s, user_tps)
    tuning = dict(weights_override=wo, efficiency_override=eff, threads=threads, cached_prefix_tokens=pfx)
    try:
        su = serving_setup(model, quant, hw, engine, ctx, prompt, output, conc, gpus, kv, **tuning)
        fields = fields_of(su, goodput=slo)
        users = rate = None
        if slo is not None:
            users = capacity(su.step, su.engine, su.load, slo, SLO_ATTAINMENT, "concurrency", SEARCH_MAX_USERS)
            rate = capacity(su.step, su.engine, su.load, slo, SLO_ATTAINMENT, "rate", SEARCH_MAX_USERS)
        top = max(2 * conc, 2 * ((users or {}).get("value") or 0), 16)
        ladder = [2**i for i in range(11) if 2**i <= min(top, SEARCH_MAX_USERS)] + [conc]
        if users and users["value"]:
            ladder += [users["value"], users["value"] + 1]
        curve = latency_curve(su, ladder, slo)
    except ValueError as e:
        return ServingView(conc, slo, {}, None, None, [], error=str(e))
    return ServingView(conc, slo, fields, users, rate, curve, tuple(fields["serving_notes"]), setup=su)


_AT_SLO: dict[tuple, tuple] = {}


def simulated_capacity(
    s: Scenario, cat: Catalog, slo: dict[str, Any], search: str, request: tuple[int, int, int] | None = None
) -> dict | None:
    """The simulator's capacity object for the scenario at a stored run's SLO (its targets in seconds and attainment),
    the forecast to set beside the measured one, for the run's `request` (prompt, output, cached prefix tokens) when
    known; None when the SLO has no target or the scenario cannot be simulated."""
    targets = tuple(slo.get(k) for k in ("ttft_s", "tpot_s", "e2e_s"))
    if not any(targets) or search not in ("concurrency", "rate"):
        return None
    model, hw = cat.model(s.model), cat.device(s.hw)
    ctx = min(s.ctx, model.context_tokens)
    if request is None:
        prompt, output = request_tokens(s, ctx)
        pfx = min(s.pfx, prompt)
    else:
        prompt, output, pfx = request
        ctx = max(ctx, min(prompt + output, model.context_tokens))
    key = (s.model, s.quant, s.hw, s.engine, ctx, prompt, output, s.conc, s.gpus, s.kv, pfx, targets, search)
    attainment = slo.get("attainment") or SLO_ATTAINMENT

    def compute() -> dict | None:
        try:
            su = serving_setup(model, s.quant, hw, s.engine, ctx, prompt, output, s.conc, s.gpus, s.kv,
                               cached_prefix_tokens=pfx)  # fmt: skip
            return capacity(su.step, su.engine, su.load, Slo(*targets), attainment, search, SEARCH_MAX_USERS)
        except ValueError:
            return None

    return memo(_AT_SLO, (*key, attainment), model, compute)


def variant_rows(v: SpeedView, cat: Catalog) -> list[dict]:
    """Every catalog model in the view's formats on the view's device: decode, prefill, TTFT, fit (memoised)."""
    s = v.scenario
    key = (v.hardware.id, s.engine, s.ctx, s.kv, tuple(v.variant_quants), v.prompt_tokens, v.output_tokens, v.threads,
           v.cached_prefix_tokens)  # fmt: skip
    return memo(_VARIANTS, key, cat, lambda: _variant_rows(cat, *key))


def _variant_rows(
    cat: Catalog,
    hw_id: str,
    engine: str,
    ctx: int,
    kv: str,
    quants: tuple[str, ...],
    prompt: int,
    output: int,
    threads: int | None,
    pfx: int,
) -> list[dict]:
    """One row per model and format that the engine runs on the device (at `threads` CPU threads, if given; `pfx`
    prompt tokens cached)."""
    rows = []
    for m in cat.models.values():
        c = min(ctx, m.context_tokens)
        for q in quants:
            args = (m, q, cat.device(hw_id))
            kw = dict(engine=engine, context_tokens=c, prompt_tokens=min(prompt, c // 2),
                      output_tokens=min(output, c // 4), kv_dtype=kv, threads=threads)  # fmt: skip
            try:  # one user, as the headline
                f = served_forecast(*args, requests=1, cached_prefix_tokens=min(pfx, kw["prompt_tokens"]), **kw)
            except ValueError:
                continue
            rows.append(
                {
                    "Model": m.name,
                    "Quant": f.quant,
                    "Decode tok/s": round(f.decode_tokens_per_s, 1),
                    "Low": round(f.decode_tokens_per_s_low, 1),
                    "High": round(f.decode_tokens_per_s_high, 1),
                    "Prefill tok/s": round(f.prefill_tokens_per_s),
                    "TTFT ms": round(f.ttft_s * 1000),
                    "Fits": not any("does not fit" in n for n in f.notes),
                    "Weights read / token (GB)": round(f.weight_bytes_per_token / 1e9, 2),
                }
            )
    return rows
