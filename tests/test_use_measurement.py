"""'Use my measurement': a probe-measured efficiency reaches the speed and cost forecasts only where it applies."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from calculators.cost import measured_forecast_factory
from model_specs import load_catalog
from probe.report import USE_MEASUREMENT_KEY

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
