"""`python -m calculators cost`: JSON contract, bad input, flag documentation, every catalog model and device."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import calculators.cost as cost
import calculators.cost.plan as cost_plan
from calculators.__main__ import main
from calculators.cli_cost import DOC_PATH, FLAGS, flags_markdown
from calculators.cost import compare
from model_specs import load_catalog

ROOT = Path(__file__).resolve().parent.parent


def _fake_factory(model, quant, hardware, **kw):
    """A forecast that does not depend on the calibration: 40 tok/s per user, 400 tok/s at most, 2,000 tok/s prefill."""

    def at(c):
        agg = min(40.0 * c, 400.0)
        return SimpleNamespace(
            aggregate_tokens_per_s=agg,
            per_user_tokens_per_s=agg / c,
            ttft_s=0.5 + 0.1 * c,
            prefill_tokens_per_s=2000.0,
            max_concurrency=None,
            notes=(),
        )

    return at


@pytest.fixture
def fake_forecast(monkeypatch):
    monkeypatch.setattr(cost_plan, "default_forecast_factory", _fake_factory)


def _run(capsys, *argv):
    code = main(["cost", *argv, "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def test_json_contract_to_the_cent(capsys, fake_forecast):
    # Typed prices, measured owned throughput (100 tok/s output, no prefill figure), forecast cloud throughput (fake).
    #   workload 50 M in + 10 M out; utilisation 0.5 -> 365 busy hours; peak 1.
    #   owned: 1,200 USD / 24 = 50.00; work 10e6 / 100 = 100,000 s = 27.7778 h; energy (300 W x 27.7778 h
    #          + 30 W x 702.2222 h) = 8.3333 + 21.0667 = 29.4000 kWh x 0.25 = 7.35 -> 57.35 USD/month;
    #          per Mtok 57.35 / 60 = 0.9558
    #   cloud: 1 replica at 0.80 USD/h x 730 h = 584.00
    #   API: 50 x 0.10 + 10 x 0.50 = 10.00
    code, d, _ = _run(
        capsys,
        "--model",
        "gemma-4-e4b",
        "--hardware",
        "rtx-4090",
        "--hardware-price-usd",
        "1200",
        "--amortization-months",
        "24",
        "--power-watts",
        "300",
        "--idle-watts",
        "30",
        "--electricity-usd-per-kwh",
        "0.25",
        "--tokens-per-s",
        "100",
        "--monthly-input-tokens",
        "50e6",
        "--monthly-output-tokens",
        "10e6",
        "--cloud-usd-per-hour",
        "0.80",
        "--api-input-usd-per-mtok",
        "0.10",
        "--api-output-usd-per-mtok",
        "0.50",
    )
    assert code == 0
    assert d["owned"]["usd_per_month"] == pytest.approx(57.35, abs=0.005)
    assert d["owned"]["usd_per_mtok"] == pytest.approx(0.9558, abs=0.0001)
    assert d["cloud"]["usd_per_month"] == pytest.approx(584.00, abs=0.005)
    assert d["api"]["usd_per_month"] == pytest.approx(10.00, abs=0.005)
    assert d["api"]["usd_per_mtok"] == pytest.approx(10 / 60, abs=1e-6)
    assert d["throughput_source"] == "measured" and d["cloud"]["throughput_source"] == "forecast"
    assert set(d["breakeven_monthly_tokens"]) == {"owned_vs_cloud", "owned_vs_api", "cloud_vs_api"}
    assert set(d["payback_months"]) == {"vs_cloud", "vs_api"}
    # Owned vs API break-even, at the 5:1 mix: owned fixed 50 + 30 W x 730 h x 0.25 / 1000 = 55.475 USD; owned per
    # token (1/6 output) / 100 tok/s / 3600 x 270 W / 1000 x 0.25 = 3.125e-8 USD; API per token 10 / 60e6 =
    # 1.6667e-7 USD; V = 55.475 / (1.6667e-7 - 3.125e-8) = 409.7 M tokens a month.
    assert d["breakeven_monthly_tokens"]["owned_vs_api"] == pytest.approx(55.475 / (1e-5 / 60 - 3.125e-8), rel=1e-5)
    # Payback vs cloud: 1,200 / (584 - 7.35) = 2.081 months.
    assert d["payback_months"]["vs_cloud"] == pytest.approx(1200 / (584 - 7.35), abs=1e-4)
    assert d["quotes"]["hardware_price_usd"]["source"] == "typed in"
    assert len(d["sensitivity"]) == 15 and {s["factor"] for s in d["sensitivity"]} == set(cost.SENSITIVITY_FACTORS)


def test_the_cached_prefix_is_billed_at_the_apis_cached_price_unless_a_share_is_typed(capsys, fake_forecast):
    # 50 M input + 10 M output; a 600-token cached prefix of 1,000-token prompts: 60 % of the input at 0.01, the rest
    # at 0.10, output at 0.50 -> 20 x 0.10 + 30 x 0.01 + 10 x 0.50 = 7.30 USD (10.00 with nothing cached).
    base = ("--tokens-per-s", "100", "--monthly-input-tokens", "50e6", "--monthly-output-tokens", "10e6",
            "--prompt-tokens", "1000", "--api-input-usd-per-mtok", "0.10", "--api-output-usd-per-mtok", "0.50",
            "--api-cached-input-usd-per-mtok", "0.01", "--cloud-usd-per-hour", "0.80")  # fmt: skip
    _, d, _ = _run(capsys, *base, "--cached-prefix-tokens", "600")
    assert d["api"]["usd_per_month"] == pytest.approx(7.30, abs=0.005)
    assert "60% of input tokens billed at the cached price" in d["api"]["notes"]
    _, typed, _ = _run(capsys, *base, "--cached-prefix-tokens", "600", "--cached-input-share", "0")
    _, cold, _ = _run(capsys, *base)
    assert typed["api"]["usd_per_month"] == cold["api"]["usd_per_month"] == pytest.approx(10.00, abs=0.005)


def test_catalog_prices_carry_source_and_date(capsys, fake_forecast):
    cat = load_catalog()
    code, d, _ = _run(
        capsys,
        "--model",
        "gemma-4-31b",
        "--quant",
        "AWQ",
        "--engine",
        "vllm",
        "--hardware",
        "a100-80gb-sxm",
        "--hardware-price-usd",
        "15000",
    )
    assert code == 0
    cheapest = min(p.usd_per_gpu_hour for p in cat.cloud_prices if p.hardware == "a100-80gb-sxm")
    q = d["quotes"]["cloud_usd_per_gpu_hour"]
    assert q["value"] == cheapest and q["source"].startswith("http") and q["as_of"]
    cheapest_api = min(
        cost.api_prices_for(cat, "gemma-4-31b"),
        key=lambda p: 5 / 6 * p.usd_per_mtok_input + 1 / 6 * p.usd_per_mtok_output,
    )
    assert d["quotes"]["api_usd_per_mtok_input"]["value"] == cheapest_api.usd_per_mtok_input
    assert d["api"]["label"].endswith(cheapest_api.provider)


def test_missing_prices_are_reported_not_fatal(capsys, fake_forecast):
    # No API price for E4B (asked for by name, so no nearest hosted model stands in) and no purchase price for an
    # A100 in the catalog: the options say why, and the CLI names its flags.
    code, d, _ = _run(capsys, "--model", "gemma-4-e4b", "--hardware", "a100-80gb-sxm", "--api-model", "gemma-4-e4b")
    assert code == 0
    assert d["api"]["usd_per_month"] is None and "--api-input-usd-per-mtok" in d["api"]["missing"]
    assert d["owned"]["usd_per_month"] is None and "--hardware-price-usd" in d["owned"]["missing"]
    assert d["cloud"]["usd_per_month"] > 0
    assert d["breakeven_monthly_tokens"]["owned_vs_api"] is None


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--utilization", "2"], "utilization"),
        (["--model", "no-such-model"], "no-such-model"),
        (["--hardware", "no-such-gpu"], "no-such-gpu"),
        (["--quant", "Q9_Z"], "Q9_Z"),
        (["--gpus", "0"], "gpus"),
        (["--monthly-input-tokens", "-5"], "monthly-input-tokens"),
        (["--electricity-usd-per-kwh", "nan"], "finite"),
        (["--api-input-usd-per-mtok", "0.1"], "both"),
        (["--pue", "0.5"], "PUE"),
        (
            ["--cloud-provider", "NoSuchCloud", "--hardware", "a100-80gb-sxm", "--hardware-price-usd", "1"],
            "NoSuchCloud",
        ),
        (["--monthly-input-tokens", "lots"], "invalid float"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, fake_forecast, argv, words):
    code = main(["cost", *argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert words.lower() in err.lower()


def test_help_and_docs_list_every_flag():
    helptext = subprocess.run(
        [sys.executable, "-m", "calculators", "cost", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    doc = DOC_PATH.read_text(encoding="utf-8")
    required = {
        "--model",
        "--quant",
        "--hardware",
        "--gpus",
        "--monthly-input-tokens",
        "--monthly-output-tokens",
        "--api-input-usd-per-mtok",
        "--api-output-usd-per-mtok",
        "--cloud-usd-per-hour",
        "--hardware-price-usd",
        "--amortization-months",
        "--power-watts",
        "--electricity-usd-per-kwh",
        "--utilization",
        "--pue",
        "--idle-watts",
        "--cost-of-capital",
        "--fixed-usd-per-month",
        "--peak-concurrency",
        "--p95-ttft-s",
        "--min-user-tokens-per-s",
        "--tokens-per-s",
        "--api-provider",
        "--cloud-provider",
    }
    names = {f.name for f in FLAGS}
    assert required <= names
    for name in names:
        assert name in helptext, name
        assert f"`{name}`" in doc, name
    # The table in the doc is exactly what FLAGS generates (regenerate: python -m calculators.cli_cost).
    assert flags_markdown() in doc


def test_every_model_and_device_in_the_catalog():
    # The real forecast, every model variant on every device as the owned option; the cloud and API options follow
    # the defaults. Each option is either priced or says why not; nothing raises.
    cat = load_catalog()
    w = cost.Workload(10e6, 2e6)
    for mid in cat.models:
        for hid in cat.hardware:
            req = cost.CostRequest(workload=w, model=mid, hardware=hid, hardware_price_usd=1000, power_watts=100)
            plan = cost.plan_costs(cat, req)
            res = cost.compare(plan.inputs)
            for name in cost.OPTIONS:
                o = res.options[name]
                assert (o is not None and o.usd_per_month >= 0) or res.missing[name], (mid, hid, name)


def test_subprocess_json(tmp_path):
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "calculators",
            "cost",
            "--json",
            "--tokens-per-s",
            "80",
            "--cloud-tokens-per-s",
            "300",
            "--cloud-usd-per-hour",
            "1",
            "--api-input-usd-per-mtok",
            "0.1",
            "--api-output-usd-per-mtok",
            "0.4",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert all(d[k]["usd_per_month"] is not None for k in ("owned", "cloud", "api"))
    bad = subprocess.run(
        [sys.executable, "-m", "calculators", "cost", "--utilization", "0"], cwd=ROOT, capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_default_scenario_prices_all_three_options_with_the_nearest_hosted_model(capsys):
    # Nobody hosts Gemma 4 E4B: the API column prices the nearest hosted model (same family, closest active
    # parameter count: 26B A4B, ~3.8 B active vs ~4.7 B) and says so, rather than staying empty.
    code, d, _ = _run(capsys, "--model", "gemma-4-e4b", "--quant", "Q4_K_M", "--hardware", "rtx-4090")
    assert code == 0
    for name in ("owned", "cloud", "api"):
        assert d[name]["usd_per_month"] > 0, name
    assert d["api"]["label"].startswith("Gemma 4 26B A4B") and "nearest hosted model" in d["api"]["label"]
    assert d["api_substitute"]["requested_model_id"] == "gemma-4-e4b"
    assert d["api_substitute"]["model_id"] == "gemma-4-26b-a4b"
    assert d["api_substitute"]["label"].startswith("nobody hosts Gemma 4 E4B; nearest hosted: Gemma 4 26B A4B")
    cheapest = cost.api_prices_for(load_catalog(), "gemma-4-26b-a4b", cost.Workload(100e6, 20e6))[0]
    assert d["quotes"]["api_usd_per_mtok_input"]["value"] == cheapest.usd_per_mtok_input


def test_half_an_api_price_is_a_typed_error_the_cli_maps_to_its_flags(capsys):
    code, _, err = _run(capsys, "--api-input-usd-per-mtok", "0.1")
    assert code == 2
    assert "input and output price" in err and "--api-input-usd-per-mtok and --api-output-usd-per-mtok" in err
    with pytest.raises(cost.HalfApiPrice) as e:
        cost.plan_costs(
            load_catalog(), cost.CostRequest(cost.Workload(1e6, 1e6), "gemma-4-31b", api_input_usd_per_mtok=1)
        )
    assert "--" not in str(e.value) and e.value.request_fields == ("api_input_usd_per_mtok", "api_output_usd_per_mtok")


def test_calculator_messages_name_the_missing_thing_never_a_flag():
    cat = load_catalog()
    req = cost.CostRequest(cost.Workload(1e6, 1e6), "gemma-4-e4b", hardware="a100-80gb-sxm", api_model="gemma-4-e4b")
    plan = cost.plan_costs(cat, req)
    assert plan.missing["api"].reason == "no hosted-API price for Gemma 4 E4B in the catalog"
    assert plan.missing["owned"].kind == "hardware_price" and plan.api_substitute is None
    for m in plan.missing.values():
        assert "--" not in m.reason and "pass" not in m.reason
        assert all(hasattr(req, f) for f in m.request_fields)
    assert all("--" not in v for v in compare(plan.inputs).missing.values())
