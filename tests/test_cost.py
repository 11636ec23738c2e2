"""Cost models: arithmetic to the cent, break-even consistency, monotonicity, payback and the forecast adapter."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calculators.cost import (
    HOURS_PER_MONTH,
    Breakeven,
    Capacity,
    CloudGpu,
    CostInputs,
    CostLine,
    HostedApi,
    OwnedHardware,
    Workload,
    api_line,
    breakeven_monthly_tokens,
    capacity_from_forecast,
    capacity_from_measured,
    cloud_line,
    compare,
    cost_curves,
    curve_volumes,
    monthly_capital_usd,
    owned_line,
    payback_months,
    sensitivities,
    sizing_sentence,
)

# The worked example used by several tests below.
W = Workload(monthly_input_tokens=100e6, monthly_output_tokens=20e6, peak_concurrency=8, utilization=0.5)
CAP = Capacity(output_tokens_per_s=400, users_per_replica=8, gpus_per_replica=1, prefill_tokens_per_s=4000)
HW = OwnedHardware(
    price_usd=2000,
    busy_watts=450,
    idle_watts=45,
    amortization_months=24,
    electricity_usd_per_kwh=0.20,
    pue=1.0,
    fixed_usd_per_month=10,
)
CLOUD = CloudGpu(usd_per_gpu_hour=1.50)
API = HostedApi(usd_per_mtok_input=0.14, usd_per_mtok_output=0.40)
INPUTS = CostInputs(W, HW, CAP, CLOUD, CAP, API)


def test_worked_example_to_the_cent():
    # Hand computation (a month = 730 h; busy hours = 0.5 x 730 = 365 h):
    #   replica work: 20e6 out / 400 tok/s = 50,000 s; 100e6 in / 4,000 tok/s = 25,000 s; 75,000 s = 20.8333 h
    #   replicas: peak 8 users / 8 per replica = 1; volume 75,000 s <= 365 h x 3600 = 1,314,000 s -> 1
    #   owned: capital 2,000 / 24 = 83.3333; energy: idle 45 W x (730 - 20.8333) h = 31.9125 kWh,
    #          busy 450 W x 20.8333 h = 9.3750 kWh; 41.2875 kWh x 0.20 = 8.2575; fixed 10
    #          total 83.3333 + 8.2575 + 10 = 101.5908 -> 101.59 USD/month; per Mtok 101.5908 / 120 = 0.8466
    #   cloud always-on: 1.50 x 730 h = 1,095.00; scale-to-zero: 1.50 x 365 h = 547.50
    #   API: 100 x 0.14 + 20 x 0.40 = 14.00 + 8.00 = 22.00 USD/month; per Mtok 22 / 120 = 0.1833
    c = compare(INPUTS)
    owned, cloud, api = c.options["owned"], c.options["cloud"], c.options["api"]
    assert owned.usd_per_month == pytest.approx(101.59, abs=0.005)
    assert owned.breakdown_usd_per_month["capital"] == pytest.approx(83.33, abs=0.005)
    assert owned.breakdown_usd_per_month["energy"] == pytest.approx(8.26, abs=0.005)
    assert owned.usd_per_mtok == pytest.approx(0.8466, abs=0.00005)
    assert owned.busy_gpu_hours == pytest.approx(20.8333, abs=1e-4)
    assert (owned.replicas, owned.gpus) == (1, 1)
    assert cloud.usd_per_month == pytest.approx(1095.00, abs=0.005)
    assert api.usd_per_month == pytest.approx(22.00, abs=0.005)
    assert api.usd_per_mtok == pytest.approx(0.1833, abs=0.00005)
    stz = compare(CostInputs(W, cloud=CloudGpu(1.50, scale_to_zero=True), cloud_capacity=CAP))
    assert stz.options["cloud"].usd_per_month == pytest.approx(547.50, abs=0.005)
    assert c.cheapest == "api"


def test_worked_example_breakeven_and_payback():
    # Owned = fixed 10 + 83.3333 + idle 45 W x 730 h x 0.20 / 1000 = 6.57 -> 99.9033 USD
    #   + busy extra 405 W x 0.000625 s/token / 3600 x 0.20 / 1000 = 1.40625e-8 USD/token.
    # API = 22 / 120e6 = 1.83333e-7 USD/token. Break-even V = 99.9033 / (1.83333e-7 - 1.40625e-8) = 590.2 M tokens,
    # inside one replica's 1,314,000 s / 0.000625 s = 2,102.4 M tokens.
    c = compare(INPUTS)
    be = {b.key: b for b in c.breakevens}
    assert be["owned_vs_api"].monthly_tokens == pytest.approx(590.20e6, rel=1e-4)
    assert be["owned_vs_api"].cheaper_below == "api"
    # Cloud always-on costs 1,095 per 2,102.4 M tokens (5.2e-7 USD/token) vs the API's 1.83e-7: never cheaper.
    assert be["cloud_vs_api"].monthly_tokens is None and be["cloud_vs_api"].cheaper_below == "api"
    assert be["owned_vs_cloud"].monthly_tokens is None and be["owned_vs_cloud"].cheaper_below == "owned"
    # Payback: running cost 8.2575 + 10 = 18.2575; vs API saving 22 - 18.2575 = 3.7425 -> 2,000 / 3.7425 = 534.4 months;
    # vs cloud saving 1,095 - 18.2575 = 1,076.7425 -> 1.857 months.
    assert c.payback["vs_api"] == pytest.approx(534.40, abs=0.01)
    assert c.payback["vs_cloud"] == pytest.approx(1.8575, abs=0.0001)


def test_annuity_matches_loan_table():
    # 2,000 USD at 8 %/year over 24 months: r = 0.08/12; payment = 2000 r / (1 - (1 + r)^-24) = 90.45 USD,
    # the standard loan-amortisation figure (PMT(0.08/12, 24, -2000) = 90.4546).
    assert monthly_capital_usd(2000, 24, 0.08) == pytest.approx(90.4546, abs=0.0001)
    assert monthly_capital_usd(2000, 24, 0.0) == pytest.approx(83.3333, abs=0.0001)


def test_discounted_payback():
    # Saving 100/month on 1,000 at 12 %/year (1 %/month): n = -ln(1 - 1000 x 0.01 / 100) / ln(1.01) = 10.589 months.
    assert payback_months(1000, 0, 100, 0.12) == pytest.approx(10.5886, abs=1e-4)
    assert payback_months(1000, 0, 100, 0.0) == pytest.approx(10.0)
    assert payback_months(1000, 50, 40, 0.0) is None  # running costs exceed the alternative
    assert payback_months(1000, 0, 5, 0.12) is None  # saving never covers the interest (1000 x 1 % = 10 > 5)
    assert payback_months(0, 0, 5) == 0.0


def test_cached_input_price():
    # 100 M input, 40 % cached: 60 x 0.50 + 40 x 0.05 = 32.00; output 20 x 2.00 = 40.00; total 72.00.
    w = Workload(100e6, 20e6, cached_input_share=0.4)
    api = HostedApi(0.50, 2.00, usd_per_mtok_cached_input=0.05)
    c = compare(CostInputs(w, api=api))
    assert c.options["api"].usd_per_month == pytest.approx(72.00, abs=0.005)
    # No cached price known: everything at the full input price (50 + 40 = 90) and a note says so.
    c2 = compare(CostInputs(w, api=HostedApi(0.50, 2.00)))
    assert c2.options["api"].usd_per_month == pytest.approx(90.00, abs=0.005)
    assert c2.options["api"].notes


def test_replicas_from_peak_and_from_volume():
    # Peak 20 users, 8 per replica -> 3 replicas; 2 GPUs each -> 6 GPUs billed 730 h at 1.50 = 6,570.00.
    w = Workload(1e6, 1e6, peak_concurrency=20)
    cap = Capacity(400, users_per_replica=8, gpus_per_replica=2)
    o = compare(CostInputs(w, cloud=CLOUD, cloud_capacity=cap)).options["cloud"]
    assert (o.replicas, o.gpus) == (3, 6)
    assert o.usd_per_month == pytest.approx(6570.00, abs=0.005)
    # Volume: 2,000 M output tokens at 400 tok/s = 5e6 s; busy hours 0.25 x 730 = 182.5 h = 657,000 s -> 8 replicas.
    w2 = Workload(0, 2000e6, utilization=0.25)
    o2 = compare(CostInputs(w2, cloud=CLOUD, cloud_capacity=Capacity(400))).options["cloud"]
    assert o2.replicas == math.ceil(5e6 / 657_000) == 8


def test_from_requests():
    # 1,000 requests/day x 30.4167 days x (1,500 in, 300 out) = 45.625 M in, 9.125 M out.
    w = Workload.from_requests(1000, 1500, 300)
    assert w.monthly_input_tokens == pytest.approx(45.625e6)
    assert w.monthly_output_tokens == pytest.approx(9.125e6)


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        ({"monthly_input_tokens": -1, "monthly_output_tokens": 0}, "input tokens"),
        ({"monthly_input_tokens": 1, "monthly_output_tokens": 1, "utilization": 0}, "utilization"),
        ({"monthly_input_tokens": 1, "monthly_output_tokens": 1, "peak_concurrency": 0}, "concurrency"),
        ({"monthly_input_tokens": float("nan"), "monthly_output_tokens": 1}, "finite"),
    ],
)
def test_bad_workload_is_one_line_value_error(kwargs, msg):
    with pytest.raises(ValueError, match=msg) as e:
        Workload(**kwargs)
    assert "\n" not in str(e.value)


def test_bad_option_inputs():
    with pytest.raises(ValueError, match="PUE"):
        OwnedHardware(1000, 300, pue=0.9)
    with pytest.raises(ValueError, match="idle"):
        OwnedHardware(1000, 300, idle_watts=400)
    with pytest.raises(ValueError, match="throughput"):
        Capacity(0)
    with pytest.raises(ValueError, match="cost of capital"):
        OwnedHardware(1000, 300, cost_of_capital=8)


# ---------------------------------------------------------------- break-even consistency and monotonicity

money = st.floats(min_value=0.0, max_value=5000.0, allow_nan=False)
rates = st.floats(min_value=1.0, max_value=20000.0, allow_nan=False)


@st.composite
def inputs_strategy(draw):
    w = Workload(
        draw(st.floats(0, 5e9)),
        draw(st.floats(0, 2e9)),
        peak_concurrency=draw(st.integers(1, 64)),
        utilization=draw(st.floats(0.02, 1.0)),
    )
    cap_a = Capacity(
        draw(rates), draw(st.integers(1, 32)), draw(st.integers(1, 4)), draw(st.one_of(st.none(), st.floats(100, 1e5)))
    )
    cap_b = Capacity(draw(rates), draw(st.integers(1, 32)), draw(st.integers(1, 8)))
    hw = OwnedHardware(
        draw(money) * 10,
        draw(st.floats(5, 1500)),
        amortization_months=draw(st.integers(1, 120)),
        electricity_usd_per_kwh=draw(st.floats(0, 1)),
        pue=draw(st.floats(1, 2)),
        cost_of_capital=draw(st.floats(0, 0.3)),
        fixed_usd_per_month=draw(money),
    )
    cloud = CloudGpu(draw(st.floats(0.05, 10)), scale_to_zero=draw(st.booleans()))
    api = HostedApi(draw(st.floats(0, 5)), draw(st.floats(0.01, 20)))
    return CostInputs(w, hw, cap_a, cloud, cap_b, api)


def _next_step(v: float, *lines: CostLine) -> float:
    """The first volume above v where one of the lines adds a replica."""
    steps = (
        ln.replicas(v * (1 + 1e-9) + 1) * ln.tokens_per_replica for ln in lines if math.isfinite(ln.tokens_per_replica)
    )
    return min(steps, default=math.inf)


def _near_step(v: float, *lines: CostLine, tokens: float = 16) -> bool:
    """Whether v lies within `tokens` of a replica step of every line (steps that coincide at token resolution)."""
    finite = [ln for ln in lines if math.isfinite(ln.tokens_per_replica)]
    return len(finite) == len(lines) and all(
        abs(v - round(v / ln.tokens_per_replica) * ln.tokens_per_replica) <= tokens for ln in finite
    )


@settings(max_examples=300, deadline=None)
@given(inputs_strategy())
def test_breakeven_costs_equal_within_a_cent(inputs):
    # At a break-even that is not a capacity step, the two monthly costs agree within 1 cent; just below it the
    # option named `cheaper_below` is not dearer, just above it the other is not dearer.
    for b in compare(inputs).breakevens:
        if b.monthly_tokens is None:
            continue
        la, lb = inputs.line(b.a), inputs.line(b.b)
        v = b.monthly_tokens
        if _near_step(v, la, lb):
            continue  # both lines add a replica within a few tokens: no order to check at token resolution
        if not b.at_capacity_step:
            assert la.usd_per_month(v) == pytest.approx(lb.usd_per_month(v), abs=0.01)
        cheap, dear = (la, lb) if b.cheaper_below == b.a else (lb, la)
        # "Just above" stays short of the next capacity step, where the order may flip back.
        below, above = v * (1 - 1e-6), min(v * (1 + 1e-6) + 1, (v + _next_step(v, la, lb)) / 2)
        assert cheap.usd_per_month(below) <= dear.usd_per_month(below) + 0.01
        assert dear.usd_per_month(above) <= cheap.usd_per_month(above) + 0.01


@settings(max_examples=200, deadline=None)
@given(inputs_strategy(), st.lists(st.floats(0, 1e11), min_size=2, max_size=8))
def test_costs_never_fall_as_volume_grows(inputs, volumes):
    volumes = sorted(volumes)
    for name, costs in cost_curves(inputs, volumes).items():
        assert all(a <= b + 1e-9 for a, b in zip(costs, costs[1:], strict=False)), name


@settings(max_examples=100, deadline=None)
@given(inputs_strategy(), st.floats(1.01, 3.0))
def test_costs_move_the_right_way(inputs, k):
    # Dearer electricity or API prices never lower a cost; faster hardware never raises one; a longer
    # amortisation never raises the owned cost.
    from dataclasses import replace

    base = compare(inputs).options
    dearer = compare(
        replace(
            inputs,
            owned=replace(inputs.owned, electricity_usd_per_kwh=inputs.owned.electricity_usd_per_kwh * k),
            api=inputs.api.scaled(k),
        )
    ).options
    faster = compare(
        replace(inputs, owned_capacity=inputs.owned_capacity.scaled(k), cloud_capacity=inputs.cloud_capacity.scaled(k))
    ).options
    longer = compare(
        replace(inputs, owned=replace(inputs.owned, amortization_months=inputs.owned.amortization_months * k))
    ).options
    for name in ("owned", "api"):
        assert dearer[name].usd_per_month >= base[name].usd_per_month - 1e-9
    for name in ("owned", "cloud"):
        assert faster[name].usd_per_month <= base[name].usd_per_month + 1e-9
    assert longer["owned"].usd_per_month <= base["owned"].usd_per_month + 1e-9


def test_breakeven_at_a_capacity_step():
    # Cloud: 100 USD per replica, each replica serves 1e9 tokens; API 1.5e-7 USD/token. At 1e9 tokens the API costs
    # 150 > 100 (cloud cheaper), just after it cloud jumps to 200 > 150.000001: the order flips at the step, not
    # at an equal-cost point... but the first flip is earlier: API = 100 at 666.7 M tokens (continuous crossing).
    cloud = CostLine(0, 100, 0, 1, 1e9)
    api = CostLine(0, 0, 1.5e-7)
    b = breakeven_monthly_tokens(cloud, api, ("cloud", "api"))
    assert b.monthly_tokens == pytest.approx(666.667e6, rel=1e-6) and not b.at_capacity_step
    assert b.cheaper_below == "api"
    # Owned (fixed 50 + 100 per replica of 1e9 tokens) vs cloud (180 per replica of 2e9 tokens): owned is cheaper
    # (150 < 180) until owned adds its second replica at 1e9 tokens (250 > 180): a flip at the step.
    owned = CostLine(50, 100, 0, 1, 1e9)
    cloud2 = CostLine(0, 180, 0, 1, 2e9)
    b2 = breakeven_monthly_tokens(owned, cloud2, ("owned", "cloud"))
    assert b2.at_capacity_step and b2.monthly_tokens == pytest.approx(1e9)
    assert b2.cheaper_below == "owned"


def test_breakeven_just_below_a_capacity_step():
    # Found by the property test above. Owned: 2 fixed + 2,833.81 per replica of 912.73 M tokens + 1.76e-7 per token;
    # API 3.28e-6 per token. With 31 replicas owned turns cheaper ~19 k tokens before the 32nd replica is added,
    # which makes it dearer again: the break-even is that equal-cost point, and the order holds only up to the step.
    owned = CostLine(2.0, 2833.8149181032722, 1.7641661618203288e-07, 1, 912732185.7110635)
    api = CostLine(0.0, 0.0, 3.28125e-06)
    b = breakeven_monthly_tokens(owned, api, ("owned", "api"))
    step = 31 * owned.tokens_per_replica
    assert not b.at_capacity_step and b.cheaper_below == "api" and step - 1e5 < b.monthly_tokens < step
    v = b.monthly_tokens
    assert owned.usd_per_month(v) == pytest.approx(api.usd_per_month(v), abs=0.01)
    assert owned.usd_per_month((v + step) / 2) < api.usd_per_month((v + step) / 2)
    assert owned.usd_per_month(step * (1 + 1e-6)) > api.usd_per_month(step * (1 + 1e-6))


def test_breakeven_linear_closed_form():
    # Fixed 1,000 + 1e-8/token vs 1e-6/token: V = 1000 / (1e-6 - 1e-8) = 1,010,101,010 tokens.
    b = breakeven_monthly_tokens(CostLine(1000, 0, 1e-8), CostLine(0, 0, 1e-6))
    assert b.monthly_tokens == pytest.approx(1000 / (1e-6 - 1e-8), rel=1e-9)
    # Same slopes, different fixed costs: never.
    b2 = breakeven_monthly_tokens(CostLine(1000, 0, 1e-6), CostLine(0, 0, 1e-6))
    assert b2.monthly_tokens is None and b2.cheaper_below == "b"


def test_lines_agree_with_option_costs():
    w = W.scaled_to(777e6)
    assert owned_line(w, CAP, HW).usd_per_month(w.monthly_tokens) == pytest.approx(
        compare(CostInputs(w, HW, CAP)).options["owned"].usd_per_month
    )
    assert cloud_line(w, CAP, CLOUD).usd_per_month(777e6) == pytest.approx(1.5 * HOURS_PER_MONTH)
    assert api_line(w, API).usd_per_month(777e6) == pytest.approx(
        compare(CostInputs(w, api=API)).options["api"].usd_per_month
    )


def test_sensitivities_tornado():
    s = sensitivities(INPUTS, 0.2)
    by = {(x.option, x.factor): x for x in s}
    # API price +-20 %: 22.00 -> 17.60 / 26.40.
    api = by[("api", "API price")]
    assert (api.low_input_usd_per_month, api.high_input_usd_per_month) == pytest.approx((17.60, 26.40))
    # Electricity +-20 % moves the owned energy 8.2575 by +-1.6515.
    e = by[("owned", "electricity price")]
    assert e.high_input_usd_per_month - e.base_usd_per_month == pytest.approx(1.6515, abs=1e-4)
    # Amortisation 24 -> 19.2 / 28.8 months: capital 104.17 / 69.44.
    a = by[("owned", "amortization")]
    assert a.low_input_usd_per_month - a.base_usd_per_month == pytest.approx(2000 / 19.2 - 2000 / 24, abs=1e-6)
    # Factors that do not touch an option have zero swing (API vs electricity).
    assert by[("api", "electricity price")].swing_usd == 0
    # Sorted: biggest swing first within each option.
    owned = [x.swing_usd for x in s if x.option == "owned"]
    assert owned == sorted(owned, reverse=True)


def _fake_forecast(c: int) -> SimpleNamespace:
    # A replica whose aggregate speed saturates: 50 tok/s per user alone, 600 tok/s in all at most; TTFT grows with c.
    agg = min(50.0 * c, 600.0)
    return SimpleNamespace(
        aggregate_tokens_per_s=agg,
        per_user_tokens_per_s=agg / c,
        ttft_s=0.2 * c,
        prefill_tokens_per_s=5000.0,
        max_concurrency=None,
        notes=(),
    )


def test_capacity_from_forecast_meets_the_latency_target():
    # >= 20 tok/s per user: 600 / c >= 20 -> c <= 30; TTFT 0.2 c <= 2 s -> c <= 10. So 10 users per replica.
    w = Workload(1e6, 1e6, peak_concurrency=48, p95_ttft_s=2.0, min_user_tokens_per_s=20)
    cap = capacity_from_forecast(_fake_forecast, w)
    assert (cap.users_per_replica, cap.output_tokens_per_s, cap.latency_met) == (10, 500.0, True)
    assert cap.source == "forecast" and cap.prefill_tokens_per_s == 5000.0
    # 48 users / 10 per replica -> 5 replicas.
    o = compare(CostInputs(w, cloud=CLOUD, cloud_capacity=cap)).options["cloud"]
    assert o.replicas == 5
    text = sizing_sentence(w, cap, "NVIDIA A100 80GB", o.replicas)
    assert text.startswith(
        "48 concurrent users with first token within 2 s (p95) and at least 20 tokens/s each need 5 x"
    )
    # A target that even one user misses: one user per replica, flagged.
    cap2 = capacity_from_forecast(_fake_forecast, Workload(1, 1, peak_concurrency=4, min_user_tokens_per_s=80))
    assert (cap2.users_per_replica, cap2.latency_met) == (1, False)


def test_capacity_from_measured():
    w = Workload(1e6, 1e6, peak_concurrency=12, min_user_tokens_per_s=15)
    cap = capacity_from_measured(100.0, w)
    assert (cap.users_per_replica, cap.source) == (6, "measured")  # 100 tok/s / 15 per user = 6 streams
    assert capacity_from_measured(100.0, Workload(1, 1, peak_concurrency=12)).users_per_replica == 12


def test_capacity_from_forecast_batches_for_the_volume():
    # 394.2 M output tokens in 0.5 x 730 h = 1,314,000 s is 300 tok/s on average; at 50 tok/s per user that is 6
    # concurrent streams (Little's law), so the replica is sized at concurrency 6 (300 tok/s), not at the peak of 1.
    w = Workload(0, 394.2e6, peak_concurrency=1, utilization=0.5)
    cap = capacity_from_forecast(_fake_forecast, w)
    assert (cap.users_per_replica, cap.output_tokens_per_s) == (6, 300.0)

    # A KV cache with room for 4 sequences stops it at 4.
    def kv4(c):
        f = _fake_forecast(c)
        f.max_concurrency = 4
        return f

    assert capacity_from_forecast(kv4, w).users_per_replica == 4


def test_curve_volumes_span_the_workload_and_every_breakeven():
    # 120 M tokens: 1.2 M .. 12 B; a break-even at 50 B widens the top to 500 B, one at 1 M the bottom to 100 k.
    v = curve_volumes(120e6, [])
    assert len(v) == 240 and v[0] == pytest.approx(1.2e6) and v[-1] == pytest.approx(12e9)
    far = [Breakeven("a", "b", 50e9, "a"), Breakeven("a", "c", 1e6, "a"), Breakeven("b", "c", None, None)]
    v2 = curve_volumes(120e6, far, n=5)
    assert v2[0] == pytest.approx(1e5) and v2[-1] == pytest.approx(500e9)
    assert v2[2] == pytest.approx(math.sqrt(1e5 * 500e9))  # log-spaced
    assert curve_volumes(0, [], n=2) == pytest.approx([1e4, 1e8])  # an empty workload is drawn around 1 M


def test_free_tier_listing_is_not_the_default_api_price():
    from calculators.cost import api_prices_for
    from model_specs import load_catalog

    # prices.yaml lists gemini's gemma-3-27b at 0 / 0 (a rate-limited free tier): a default pick must be paid.
    prices = api_prices_for(load_catalog(), "gemma-3-27b")
    assert prices[0].usd_per_mtok_output > 0 and prices[-1].usd_per_mtok_output == 0


def test_default_rented_gpu_serves_the_model():
    # 31B AWQ weights pass a weights-only screen on a 24 GB L4 but leave no room for vLLM's KV cache: the default
    # rented device must be one where the memory calculator says a request fits.
    from calculators import memory
    from calculators.cost import CostRequest, Workload, cloud_hardware_for
    from model_specs import load_catalog

    cat = load_catalog()
    w = Workload(monthly_input_tokens=100e6, monthly_output_tokens=20e6)
    req = CostRequest(workload=w, model="gemma-4-31b", quant="Q4_K_M", hardware="rtx-4090")
    dev = cloud_hardware_for(cat, req)
    assert dev.id != "l4"
    est = memory.estimate(
        memory.MemoryRequest(model=cat.model("gemma-4-31b"), quant="AWQ", engine="vllm", hardware=dev, gpus=1)
    )
    assert est.fits


def test_nearest_hosted_model_same_family_first_then_closest_active_parameters():
    from calculators.cost import nearest_hosted_model
    from model_specs import load_catalog

    cat = load_catalog()
    # Gemma 4 E4B (~4.7 B active): hosted Gemma 4 models are E2B (~2.3 B), 26B A4B (~3.8 B) and 31B: 26B A4B.
    assert nearest_hosted_model(cat, "gemma-4-e4b") == "gemma-4-26b-a4b"
    # No Gemma 3n is hosted: any family, closest active count to ~4.5 B is Gemma 3 4B (~3.9 B).
    assert nearest_hosted_model(cat, "gemma-3n-e4b") == "gemma-3-4b"
    # A hosted model's nearest is another model, never itself.
    assert nearest_hosted_model(cat, "gemma-4-31b") != "gemma-4-31b"
