"""Cost at the SLO from a measured capacity per replica: replicas, USD a month and per million output tokens,
checked against numbers worked out by hand in the comments."""

from __future__ import annotations

import pytest

from calculators.cost import (
    CloudGpu,
    MeasuredCapacity,
    OwnedHardware,
    SloCostError,
    Workload,
    cloud_slo_cost,
    owned_slo_cost,
    slo_replicas,
)

# 20 M output tokens a month over 0.5 x 730 = 365 busy hours: 20e6 / (365 x 3600) = 15.2207 output tokens/s.
W = Workload(100e6, 20e6, peak_concurrency=10, utilization=0.5)
USERS = MeasuredCapacity("concurrency", 4, 120.0, 0.6)  # 4 users per replica at the SLO, 120 tokens/s goodput
HW = OwnedHardware(price_usd=2000, busy_watts=400, idle_watts=40, amortization_months=20, electricity_usd_per_kwh=0.10,
                   fixed_usd_per_month=100)  # fmt: skip


def test_concurrency_capacity_needs_ceil_of_peak_over_users():
    r = slo_replicas(W, USERS)
    assert r.busy_output_tokens_per_s == pytest.approx(15.2207, rel=1e-4)
    assert (r.peak_load, r.replicas_for_peak, r.replicas_for_volume, r.replicas) == (10, 3, 1, 3)  # ceil(10 / 4)


def test_owned_cost_at_the_slo_by_hand():
    # Per device: 2000 / 20 = 100 USD instalment + 40 W idle x 730 h = 29.2 kWh x 0.10 = 2.92 USD: 102.92 USD.
    # Per replica of 2 devices: 205.84; 3 replicas = 617.52 USD. Busy: 20e6 tokens / 120 tokens/s = 46.296 h x 2
    # devices = 92.593 device-hours x (400 - 40) W = 33.333 kWh x 0.10 = 3.3333 USD. + 100 fixed = 720.853 USD.
    c = owned_slo_cost(W, USERS, HW, gpus_per_replica=2)
    assert (c.replicas, c.gpus) == (3, 6)
    assert c.usd_per_replica_month == pytest.approx(205.84)
    assert c.usd_per_month == pytest.approx(720.8533, abs=1e-3)
    assert c.usd_per_mtok_output == pytest.approx(720.8533 / 20, abs=1e-4)  # 36.043 USD per million output tokens
    # At capacity: 3 replicas x 120 tokens/s x 365 h x 3600 s = 473.04 M output tokens.
    assert c.usd_per_mtok_output_at_capacity == pytest.approx(720.8533 / 473.04, abs=1e-5)


def test_cloud_cost_at_the_slo_by_hand():
    # 3 replicas x 2 GPUs x 2 USD/h x 730 h = 8,760 USD; scale-to-zero bills 365 h: 4,380 USD.
    c = cloud_slo_cost(W, USERS, CloudGpu(2.0), gpus_per_replica=2)
    assert (c.replicas, c.usd_per_month, c.usd_per_mtok_output) == (3, pytest.approx(8760), pytest.approx(438))
    assert c.usd_per_mtok_output_at_capacity == pytest.approx(8760 / 473.04)
    assert cloud_slo_cost(W, USERS, CloudGpu(2.0, scale_to_zero=True), 2).usd_per_month == pytest.approx(4380)


def test_the_months_tokens_can_need_more_replicas_than_the_peak():
    # 2,000 M output tokens in 365 h: 1,522.07 tokens/s; at 120 tokens/s goodput per replica: ceil(12.68) = 13.
    w = Workload(0, 2000e6, peak_concurrency=1, utilization=0.5)
    r = slo_replicas(w, USERS)
    assert (r.replicas_for_peak, r.replicas_for_volume, r.replicas) == (1, 13, 13)


def test_rate_capacity_counts_requests_of_the_measured_size():
    # 380 goodput tokens/s over 1.9 goodput requests/s = 200 output tokens a request.
    # 1,522.07 tokens/s / 200 = 7.610 requests/s at the peak; 2 requests/s per replica: ceil(3.805) = 4 replicas.
    cap = MeasuredCapacity("rate", 2.0, 380.0, 1.9)
    w = Workload(0, 2000e6, peak_concurrency=1, utilization=0.5)
    r = slo_replicas(w, cap)
    assert cap.output_tokens_per_request == pytest.approx(200)
    assert r.peak_load == pytest.approx(7.61035, rel=1e-5)
    assert (r.replicas_for_peak, r.replicas) == (4, 4)
    assert cloud_slo_cost(w, cap, CloudGpu(1.5)).usd_per_month == pytest.approx(4 * 1.5 * 730)


def test_from_the_probe_capacity_object():
    cap = MeasuredCapacity.from_probe(
        {
            "search": "concurrency",
            "value": 8,
            "at_least": True,
            "goodput_output_tokens_per_s": 300.5,
            "goodput_requests_per_s": 2.1,
        }  # fmt: skip
    )
    assert (cap.value, cap.goodput_output_tokens_per_s, cap.at_least, cap.unit) == (8, 300.5, True, "users")


@pytest.mark.parametrize(
    ("capacity", "words"),
    [
        ({"search": "concurrency", "value": None, "goodput_output_tokens_per_s": None}, "missed the SLO even"),
        ({"search": "concurrency", "value": 4, "goodput_output_tokens_per_s": 0.0}, "no goodput"),
        ({"search": "ladder", "value": 4, "goodput_output_tokens_per_s": 10.0}, "unknown capacity search"),
        ({"search": "rate", "value": -1.0, "goodput_output_tokens_per_s": 10.0}, "positive number"),
    ],
)
def test_unpriceable_capacities_say_why(capacity, words):
    with pytest.raises(SloCostError, match=words):
        MeasuredCapacity.from_probe(capacity)


def test_rate_without_goodput_requests_and_bad_gpus_say_why():
    with pytest.raises(SloCostError, match="goodput requests/s"):
        slo_replicas(W, MeasuredCapacity("rate", 2.0, 100.0, None))
    with pytest.raises(SloCostError, match="devices per replica"):
        cloud_slo_cost(W, USERS, CloudGpu(1.0), gpus_per_replica=0)
