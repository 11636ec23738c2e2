"""'Use my measurement': a probe-measured efficiency reaches the speed and cost forecasts only where it applies."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from calculators.cost import measured_forecast_factory
from calculators.serving.forecast import implied_efficiency, served_forecast
from model_specs import load_catalog
from probe.record import MeasuredSpeed
from probe.report import USE_MEASUREMENT_KEY
from probe.runner import ProbeSettings
from ui.scenario import Scenario
from ui.views.facts import SessionFacts
from ui.views.probe import ForecastView, measured_efficiency
from ui.views.speed import build_speed_view

CAT = load_catalog()
ROOT = Path(__file__).resolve().parents[1]
MEASURED = {
    "model": "gemma-4-e4b",
    "quant": "Q4_K_M",
    "hw": "rtx-4090",
    "engine": "llama.cpp",
    "run_id": "r1",
    "decode_tokens_per_s": 50.0,
    "efficiency_override": 0.30,
}
KW = {"engine": "llama.cpp", "gpus": 1, "context_tokens": 8192, "prompt_tokens": 512, "output_tokens": 256}


def _decode(factory, hw_id: str) -> float:
    return factory(CAT.model("gemma-4-e4b"), "Q4_K_M", CAT.device(hw_id), **KW)(1).decode_tokens_per_s


def test_measured_efficiency_applies_to_the_measured_device_only():
    fitted, measured = measured_forecast_factory(None), measured_forecast_factory(MEASURED)
    # A 30 % bandwidth efficiency is far below the fitted NVIDIA one (~86 %): the forecast must slow down.
    assert _decode(measured, "rtx-4090") < 0.6 * _decode(fitted, "rtx-4090")
    # Another device (the rented GPU of the cloud option) keeps the fitted efficiency.
    assert _decode(measured, "a100-80gb-sxm") == pytest.approx(_decode(fitted, "a100-80gb-sxm"))


@pytest.mark.parametrize("page", ["pages/speed.py", "pages/costs.py"])
def test_pages_say_when_the_measurement_is_used(page):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state[USE_MEASUREMENT_KEY] = MEASURED
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception
    assert any("probe run r1" in i.value for i in at.info)


MEASURED_RUNS = [  # (device, engine, format): a GPU per llama.cpp, Ollama and vLLM, Apple, and a catalog CPU
    ("rtx-4090", "llama.cpp", "Q4_K_M"),
    ("rtx-4090", "ollama", "Q4_K_M"),
    ("h100-80gb-sxm", "vllm", "BF16"),
    ("m4-max-64gb", "llama.cpp", "Q4_K_M"),
    ("raspberry-pi-5-8gb", "llama.cpp", "Q4_K_M"),
]


@pytest.mark.parametrize(("hw", "engine", "quant"), MEASURED_RUNS)
@pytest.mark.parametrize("share", [0.6, 1.15])
def test_the_speed_page_then_shows_the_measured_single_user_speed(hw, engine, quant, share):
    """A probe run's single-user decode, turned into an efficiency on the Probe page, comes back as the Speed page's
    headline for the probe's request (it came back 5 % low on an RTX 4090 and 54 % low on a Raspberry Pi when the
    efficiency inverted the closed form and the headline used the batched step)."""
    prompt, output = ProbeSettings.prompt_tokens, ProbeSettings.max_tokens
    sc = Scenario(model="gemma-4-e4b", quant=quant, hw=hw, engine=engine, conc=1, prompt=prompt, out_tok=output)
    measured = share * build_speed_view(sc, CAT).forecast.decode_tokens_per_s
    view = ForecastView("gemma-4-e4b", quant, engine, [], measured={"decode_tokens_per_s": measured, "ttft_s": 0.1})
    view.depth_tokens = prompt + output // 2
    choice = measured_efficiency(view, sc, CAT, "r1").to_session()
    f = build_speed_view(sc, CAT, SessionFacts(probe_choice=choice)).forecast
    assert f.efficiency_source == "override"
    assert f.decode_tokens_per_s == pytest.approx(measured, rel=1e-3)


def test_a_measured_speed_the_device_cannot_reach_is_refused_with_the_cap():
    """An N100 decodes E4B compute-bound in the CPU model: no bandwidth reaches 3x the forecast, and the message
    gives the model's ceiling instead of an efficiency that would be silently wrong."""
    a = (CAT.model("gemma-4-e4b"), "Q4_K_M", CAT.device("intel-n100"))
    fitted = served_forecast(*a, concurrency=1).decode_tokens_per_s
    with pytest.raises(ValueError, match="faster than this model allows"):
        implied_efficiency(*a, 3 * fitted, depth_tokens=640)
    with pytest.raises(ValueError, match="must be positive"):
        implied_efficiency(*a, 0.0)


def test_a_stored_run_read_by_served_name_is_the_speed_pages_headline():
    """The Speed page's own 'use my measurement' (a stored run of the served model) at the page's request: the
    headline decode at one user is the stored speed (it was inverted at the prompt's depth, not the answer's)."""
    sc = Scenario(model="gemma-4-31b", quant="Q4_K_M", hw="rtx-3090", conc=1, prompt=4000, out_tok=2000, use_meas=True)
    run = MeasuredSpeed(20.0, "r9", "gemma4:31b", "ollama", "http://127.0.0.1:11434", dt.datetime(2026, 12, 1), 1,
                        0.4, None)  # fmt: skip
    f = build_speed_view(sc, CAT, SessionFacts(stored_speed=run)).forecast
    assert f.efficiency_source == "override" and f.decode_tokens_per_s == pytest.approx(20.0, rel=1e-3)
