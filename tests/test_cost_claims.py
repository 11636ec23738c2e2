"""Reproduce the kind of cost claim users read in guides, from the catalogs and the speed forecast."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from calculators.cost import (
    HOURS_PER_MONTH,
    CostRequest,
    Workload,
    cloud_prices_for,
    compare,
    plan_costs,
)
from model_specs import load_catalog


def test_31b_on_80_usd_a_month_of_cloud_vs_e4b_locally():
    # Claim shape: "a 31B model on $80/month of cloud compute vs an E4B locally".
    # $80 at the catalog's cheapest A100 80GB SXM rate p buys 80 / p GPU-hours; billed scale-to-zero, that is a
    # utilisation of (80 / p) / 730. Those busy hours serve V = hours x 3600 / (seconds per token) tokens of 31B (AWQ,
    # vLLM, one user at a time, forecast). The same V tokens of E4B (Q4_K_M, llama.cpp) on an x86 laptop that is
    # already owned (price 0, catalog 45 W, 10 % idle) cost only electricity at 0.15 USD/kWh (as many laptops as
    # the forecast says it takes to keep up).
    cat = load_catalog()
    a100 = cloud_prices_for(cat, "a100-80gb-sxm")[0]
    assert a100.usd_per_gpu_hour == min(p.usd_per_gpu_hour for p in cat.cloud_prices if p.hardware == "a100-80gb-sxm")
    hours = 80 / a100.usd_per_gpu_hour
    util = hours / HOURS_PER_MONTH
    mix = Workload(5e6, 1e6, utilization=util)  # 5:1 input:output, the scenario default mix
    cloud_req = CostRequest(
        workload=mix,
        model="gemma-4-31b",
        quant="AWQ",
        engine="vllm",
        hardware="a100-80gb-sxm",
        hardware_price_usd=0,
        cloud_hardware="a100-80gb-sxm",
        scale_to_zero=True,
        api_input_usd_per_mtok=0,
        api_output_usd_per_mtok=0,
    )
    cloud_cap = plan_costs(cat, cloud_req).inputs.cloud_capacity
    spt = (1 / 6) / cloud_cap.output_tokens_per_s + (5 / 6) / cloud_cap.prefill_tokens_per_s
    volume = hours * 3600 / spt  # tokens a month the $80 serves
    w = mix.scaled_to(volume)

    cloud = compare(plan_costs(cat, replace(cloud_req, workload=w)).inputs).options["cloud"]
    assert cloud.usd_per_month == pytest.approx(80.00, abs=0.01)
    assert cloud.replicas == 1 and cloud.billed_gpu_hours == pytest.approx(hours)

    local_w = Workload(w.monthly_input_tokens, w.monthly_output_tokens, utilization=1.0)  # any hour of the month
    local_plan = plan_costs(
        cat,
        CostRequest(
            workload=local_w,
            model="gemma-4-e4b",
            quant="Q4_K_M",
            engine="llama.cpp",
            hardware="laptop-ddr5-16gb",
            hardware_price_usd=0,
            electricity_usd_per_kwh=0.15,
        ),
    )
    cap = local_plan.inputs.owned_capacity
    assert local_plan.quotes["power_watts"].value == cat.device("laptop-ddr5-16gb").tdp_watts == 45
    busy_h = volume * ((1 / 6) / cap.output_tokens_per_s + (5 / 6) / cap.prefill_tokens_per_s) / 3600
    laptops = max(1, math.ceil(busy_h / HOURS_PER_MONTH))  # more than one when a single laptop cannot keep up
    energy_usd = (45 * busy_h + 4.5 * (laptops * HOURS_PER_MONTH - busy_h)) / 1000 * 0.15
    local = compare(local_plan.inputs).options["owned"]
    assert local.replicas == laptops
    assert local.usd_per_month == pytest.approx(energy_usd, abs=0.01)
    # The claim's point: the local E4B costs a few dollars of electricity where the 31B costs $80 (a laptop busy for
    # hundreds of hours is the price instead).
    assert local.usd_per_month < 80 / 10
