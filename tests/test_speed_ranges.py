"""Every ranged figure of the speed forecast lies inside its own low-high range, over random scenarios."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calculators.engines import ENGINE_RECORDS
from calculators.serving.forecast import serving_fields, under_load
from calculators.speed import forecast
from model_specs import load_catalog
from model_specs.hf_import import model_from_hf_config

CAT = load_catalog()
CONFIGS = Path(__file__).resolve().parent / "fixtures" / "hf_configs"
MODELS = [
    *CAT.models.values(),
    model_from_hf_config(json.loads((CONFIGS / "llama-3-8b.json").read_text()), "llama-3-8b"),
]
HARDWARE = list(CAT.hardware.values())
RANGED = ("decode_tokens_per_s", "prefill_tokens_per_s", "ttft_s", "e2e_s", "aggregate_tokens_per_s")


def _assert_inside(f) -> None:
    for name in RANGED:
        lo, point, hi = getattr(f, f"{name}_low"), getattr(f, name), getattr(f, f"{name}_high")
        assert lo <= point * (1 + 1e-12) and point <= hi * (1 + 1e-12), (name, lo, point, hi)


def test_queued_requests_keep_e2e_inside_its_range():
    # The case: more users than the KV cache holds, so requests queue in waves. The point e2e counted the
    # waves' wait and the range did not (Llama 3.1 8B FP8, H100, 64 users: e2e 1.06 s, range 0.63-0.82 s).
    f = forecast(CAT.model("gemma-4-31b"), "Q4_K_M", CAT.device("rtx-4090"), context_tokens=32768, concurrency=64)
    assert f.max_concurrency is not None and f.max_concurrency < 64
    assert f.e2e_s_low < f.e2e_s < f.e2e_s_high
    one_wave = forecast(
        CAT.model("gemma-4-31b"), "Q4_K_M", CAT.device("rtx-4090"), context_tokens=32768, concurrency=f.max_concurrency
    )
    assert f.e2e_s_low > one_wave.e2e_s_low  # the range moves with the queue, not only the point
    _assert_inside(f)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=st.sampled_from(MODELS),
    hw=st.sampled_from(HARDWARE),
    engine=st.sampled_from(list(ENGINE_RECORDS)),
    quant_index=st.integers(0, 2),
    concurrency=st.integers(1, 512),
    context=st.sampled_from([2048, 8192, 32768]),
    cold=st.booleans(),
)
def test_every_range_contains_its_point(model, hw, engine, quant_index, concurrency, context, cold):
    quants = ENGINE_RECORDS[engine].guide_quants
    try:
        f = forecast(
            model,
            quants[quant_index % len(quants)],
            hw,
            engine=engine,
            context_tokens=min(context, model.context_tokens),
            concurrency=concurrency,
            cold_start=cold,
        )
    except ValueError:  # a format the engine cannot run, or a model without that format
        return
    _assert_inside(f)


@pytest.mark.parametrize("engine", list(ENGINE_RECORDS))
def test_ranges_hold_at_the_extremes(engine):
    quant = ENGINE_RECORDS[engine].guide_quants[-1]
    for hw in ("rtx-4090", "h100-80gb-sxm", "raspberry-pi-5-8gb"):
        for conc in (1, 1024):
            _assert_inside(forecast(CAT.model("gemma-4-e4b"), quant, CAT.device(hw), engine=engine, concurrency=conc))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=st.sampled_from(MODELS),
    hw=st.sampled_from(HARDWARE),
    engine=st.sampled_from(list(ENGINE_RECORDS)),
    concurrency=st.integers(1, 256),
    cold=st.booleans(),
)
def test_the_headline_under_load_keeps_every_point_inside_its_range(model, hw, engine, concurrency, cold):
    # The CLI's and the pages' figures: the forecast with its TTFT / e2e / throughput from the simulated closed loop.
    quant = ENGINE_RECORDS[engine].guide_quants[0]
    args = dict(engine=engine, context_tokens=min(4096, model.context_tokens), prompt_tokens=512, output_tokens=128)
    try:
        f = forecast(model, quant, hw, concurrency=concurrency, cold_start=cold, **args)
        served = serving_fields(model, quant, hw, concurrency=concurrency, requests=2 * concurrency + 20, **args)
    except ValueError:
        return
    h = under_load(f, served)
    _assert_inside(h)
    if f.host_fraction == 0 and concurrency > 1:
        assert h.ttft_s - h.cold_start_s == pytest.approx(served["ttft_s_p50"])
        assert h.aggregate_tokens_per_s == pytest.approx(served["simulated_output_tokens_per_s"])
