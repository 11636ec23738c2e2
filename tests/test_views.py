"""Page view-models (ui/views): the figures each page shows, checked against the calculators and by hand."""

from __future__ import annotations

import json

import pytest

from calculators import memory
from calculators.__main__ import main as cli_main
from calculators.guide import TARGET_BY_ID
from calculators.speed import forecast
from model_specs import load_catalog
from ui.scenario import Scenario
from ui.views.costs import base_request, build_cost_view
from ui.views.facts import SessionFacts
from ui.views.guide import build_guide_view
from ui.views.memory import build_fit_view, build_memory_view
from ui.views.speed import build_speed_view, request_tokens, variant_rows
from ui.views.variants import build_variants_view

CAT = load_catalog()
GiB = 2**30


# ---------------------------------------------------------------- memory


def test_memory_total_is_the_sum_of_its_parts_and_matches_the_calculator():
    s = Scenario(model="gemma-4-31b", quant="Q4_K_M", hw="rtx-4090", ctx=16384, conc=2)
    v = build_memory_view(s, CAT)
    e = v.estimate
    # llama.cpp loads a tied output matrix a second time on the GPU: in the total, beside the weights file.
    assert v.output_copy_bytes > 0
    assert v.total_bytes == e.weights_bytes + e.kv_cache_bytes + e.overhead_bytes + v.output_copy_bytes
    direct = memory.estimate(
        memory.MemoryRequest(
            model=CAT.model("gemma-4-31b"),
            context_tokens=16384,
            batch=2,
            hardware=CAT.device("rtx-4090"),
        )
    )
    assert (e.total_bytes, e.margin_bytes, e.max_context_tokens) == (
        direct.total_bytes,
        direct.margin_bytes,
        direct.max_context_tokens,
    )


def test_moe_experts_on_the_host_move_bytes_off_the_gpu_not_out_of_the_total():
    base = Scenario(model="gemma-4-26b-a4b", quant="Q4_K_M", hw="rtx-4090")
    on_gpu = build_memory_view(base, CAT).estimate
    on_host = build_memory_view(base.model_copy(update={"moe_host": True}), CAT).estimate
    moved = on_gpu.placement.gpu_bytes - on_host.placement.gpu_bytes
    assert moved > 10 * GiB  # 128 routed experts of 26B A4B are most of its ~16 GiB of weights
    assert on_host.placement.host_bytes - on_gpu.placement.host_bytes == moved
    assert on_host.total_bytes == on_gpu.total_bytes
    assert on_host.margin_bytes - on_gpu.margin_bytes == moved  # a discrete GPU: host bytes do not count


def test_ple_table_on_the_gpu_costs_gpu_memory_for_gemma_4_e4b():
    base = Scenario(model="gemma-4-e4b")
    host = build_memory_view(base, CAT).estimate
    gpu = build_memory_view(base.model_copy(update={"ple_host": False}), CAT).estimate
    assert gpu.placement.gpu_bytes - host.placement.gpu_bytes == host.weights.component_bytes["ple"]


def test_shortfall_is_the_negative_margin():
    v = build_memory_view(Scenario(model="gemma-4-31b", quant="BF16", hw="phone-4gb"), CAT)
    assert v.estimate.fits is False and v.shortfall_bytes == -v.estimate.margin_bytes > 50 * GiB
    assert build_memory_view(Scenario(), CAT).shortfall_bytes is None  # E4B fits an RTX 4090


def test_unsupported_format_is_an_error_not_an_exception():
    v = build_memory_view(Scenario(quant="AWQ", engine="llama.cpp"), CAT)
    assert v.estimate is None and "not supported by llama.cpp" in v.error


def test_fit_view_holds_the_calculators_matrix():
    f = build_fit_view(Scenario(), CAT)
    i, j = f.model_names.index("Gemma 4 E4B"), f.device_names.index(CAT.device("rtx-4090").name)
    assert f.max_context_tokens[i][j] == f.ladder_tokens[-1] or f.max_context_tokens[i][j] in f.ladder_tokens
    assert f.max_context_tokens[i][j] >= 131072  # a 4-bit E4B with its sliding layers fits 128K on 24 GB


def test_kv_detail_multiplies_out_to_the_kv_cache():
    v = build_memory_view(Scenario(model="gemma-4-31b", ctx=32768, kv="q8_0"), CAT)
    k = v.kv_detail
    assert k.full_bytes_per_token * k.full_cells + k.sliding_bytes_per_token * k.sliding_cells == (
        v.estimate.kv_cache_bytes
    )


# ---------------------------------------------------------------- speed


@pytest.mark.parametrize(
    ("ctx", "prompt", "out_tok", "expected"),
    [
        (8192, None, None, (512, 256)),
        (256, None, None, (128, 128)),
        (8192, 4096, None, (4096, 256)),
        (4096, 9000, 9000, (4095, 1)),  # clamped to the context
    ],
)
def test_request_tokens(ctx, prompt, out_tok, expected):
    assert request_tokens(Scenario(prompt=prompt, out_tok=out_tok), ctx) == expected


def test_speed_view_is_the_clis_answer_for_the_scenarios_request(capsys):
    # One path: the page's headline under load is what `python -m calculators speed` prints for the same request.
    s = Scenario(model="gemma-4-26b-a4b", hw="h100-80gb-sxm", engine="vllm", quant="FP8", conc=8, prompt=2048)
    v = build_speed_view(s, CAT)
    cli_main(["speed", "--model", s.model, "--quant", "FP8", "--hardware", s.hw, "--engine", "vllm", "--context",
              "8192", "--prompt-tokens", "2048", "--output-tokens", "256", "--concurrency", "8", "--json"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    for key in ("ttft_s", "e2e_s", "aggregate_tokens_per_s", "per_user_tokens_per_s", "prefill_tokens_per_s"):
        assert getattr(v.forecast, key) == pytest.approx(out[key], rel=1e-5), key
    # ... and it is the simulated closed loop's median and throughput, not the closed form's
    assert out["ttft_s"] == pytest.approx(out["ttft_s_p50"]) and out["ttft_s_p95"] >= out["ttft_s"]
    assert out["aggregate_tokens_per_s"] == pytest.approx(out["simulated_output_tokens_per_s"])


def test_longer_prompt_and_cold_start_cost_time_to_first_token():
    base = build_speed_view(Scenario(), CAT).forecast
    longer = build_speed_view(Scenario(prompt=4096), CAT).forecast
    cold = build_speed_view(Scenario(cold=True), CAT).forecast
    assert longer.ttft_s > 4 * base.ttft_s  # prefill grows with the prompt (8x the tokens)
    assert cold.ttft_s > base.ttft_s + 1.0  # loading ~5 GB of weights from disk takes seconds
    assert cold.decode_tokens_per_s == pytest.approx(base.decode_tokens_per_s)


def test_probe_page_measurement_applies_only_to_its_own_setup():
    choice = {"model": "gemma-4-e4b", "quant": "Q4_K_M", "hw": "rtx-4090", "engine": "llama.cpp"}
    facts = SessionFacts(probe_choice={**choice, "efficiency_override": 0.2, "run_id": "r1"})
    v = build_speed_view(Scenario(), CAT, facts)
    assert v.efficiency_override == 0.2 and v.override_from_probe_page
    assert v.forecast.decode_tokens_per_s < build_speed_view(Scenario(), CAT).forecast.decode_tokens_per_s
    assert build_speed_view(Scenario(quant="Q8_0"), CAT, facts).efficiency_override is None


def test_variant_rows_cover_every_model_in_the_engines_formats():
    v = build_speed_view(Scenario(), CAT)
    rows = variant_rows(v, CAT)
    assert {r["Model"] for r in rows} == {m.name for m in CAT.models.values()}
    assert {r["Quant"] for r in rows} <= {q.upper() for q in v.variant_quants} | set(v.variant_quants)


def test_cpu_threads_reach_every_speed_figure_on_a_catalog_cpu():
    base = Scenario(model="gemma-4-e4b", hw="core-i5-13600k")
    default, two = build_speed_view(base, CAT), build_speed_view(base.model_copy(update={"thr": 2}), CAT)
    assert default.default_threads == 6 and default.threads is None and default.forecast.threads == 6  # P-cores
    assert two.threads == 2 and two.forecast.threads == 2
    f = forecast(
        CAT.model("gemma-4-e4b"), "Q4_K_M", CAT.device("core-i5-13600k"), context_tokens=8192, prompt_tokens=512,
        output_tokens=256, threads=2,
    )  # fmt: skip
    # the headline's decode is the batched step's, within 2 % of the closed form's at one user (KV read apart)
    assert two.forecast.decode_tokens_per_s == pytest.approx(f.decode_tokens_per_s, rel=0.02)
    # Two threads pull ~2 x 19.5 GB/s, below the ~52 GB/s six sustain: decode, the charts and the table all slow.
    assert two.forecast.decode_tokens_per_s < 0.85 * default.forecast.decode_tokens_per_s
    assert two.depth[0][1] < 0.85 * default.depth[0][1]
    assert two.concurrency[0].aggregate_tokens_per_s < 0.85 * default.concurrency[0].aggregate_tokens_per_s
    assert (
        two.roofline["points"][0]["achieved_flops_per_s"] < 0.85 * default.roofline["points"][0]["achieved_flops_per_s"]
    )
    row = {(r["Model"], r["Quant"]): r["Decode tok/s"] for r in variant_rows(two, CAT)}[("Gemma 4 E4B", "Q4_K_M")]
    assert row == round(two.forecast.decode_tokens_per_s, 1)


def test_cpu_threads_are_ignored_where_there_is_no_cpu_block():
    for hw in ("rtx-4090", "laptop-ddr5-16gb"):  # a GPU; a CPU with only a DRAM figure in the catalog
        v, plain = build_speed_view(Scenario(hw=hw, thr=3), CAT), build_speed_view(Scenario(hw=hw), CAT)
        assert v.error is None and v.default_threads is None and v.threads is None and v.forecast.threads is None
        assert v.forecast.decode_tokens_per_s == plain.forecast.decode_tokens_per_s


# ---------------------------------------------------------------- costs


def _monthly(s: Scenario) -> dict[str, float | None]:
    c = build_cost_view(s, CAT).comparison
    return {k: None if o is None else o.usd_per_month for k, o in c.options.items()}


def test_pue_scales_only_the_owned_energy_bill():
    base, pue, no_power = _monthly(Scenario()), _monthly(Scenario(pue=1.4)), _monthly(Scenario(kwh=0))
    energy = base["owned"] - no_power["owned"]
    assert energy > 1  # an RTX 4090 drawing power for half of 730 hours
    assert pue["owned"] - base["owned"] == pytest.approx(0.4 * energy, rel=1e-6)
    assert pue["cloud"] == base["cloud"]


def test_costs_forecast_the_speed_pages_request_and_its_cached_prefix():
    # One load for both pages: the cost plan sizes replicas on the Speed page's prompt, output and cached prefix.
    s = Scenario(model="gemma-4-31b", engine="vllm", quant="FP8", hw="h100-80gb-sxm", conc=64, ttft_s=0.5,
                 prompt=6000, out_tok=300, hw_usd=25000)  # fmt: skip
    req = base_request(s.model_copy(update={"pfx": 5000}), CAT)
    assert (req.prompt_tokens, req.output_tokens, req.cached_prefix_tokens) == (6000, 300, 5000)
    # the API is assumed to cache the same prefix; this catalog offer lists no cached price, and the page says so
    assert req.workload.cached_input_share == pytest.approx(5000 / 6000)
    warm_view = build_cost_view(s.model_copy(update={"pfx": 5000}), CAT)
    assert any("no cached-input price known" in n for n in warm_view.comparison.options["api"].notes)
    cold, warm = build_cost_view(s, CAT).plan, warm_view.plan
    c, w = cold.inputs.owned_capacity, warm.inputs.owned_capacity  # 5,000 of 6,000 prompt tokens need no prefill
    assert w.users_per_replica >= 2 * c.users_per_replica  # more users meet the 0.5 s p95 TTFT on one replica


def test_fixed_costs_and_cost_of_capital_add_to_the_owned_option():
    base = _monthly(Scenario(hw_usd=1600))
    assert _monthly(Scenario(hw_usd=1600, fixed=100))["owned"] == pytest.approx(base["owned"] + 100)
    assert _monthly(Scenario(hw_usd=1600, coc=10))["owned"] > base["owned"] + 1  # interest on 1,600 USD


def test_a_price_typed_for_one_side_keeps_the_catalog_price_of_the_other():
    # Gemma 4 31B at bedrock_mantle: 0.14 in / 0.40 out per M (catalog); 100 M x 1.00 + 20 M x 0.40 = 108 USD.
    s = Scenario(hw="laptop-ddr5-16gb", api_model="gemma-4-31b", api_in=1.0)
    v = build_cost_view(s, CAT)
    assert v.api_seed_usd_per_mtok == (0.14, 0.40)
    assert v.comparison.options["api"].usd_per_month == pytest.approx(108.0)


def test_chosen_provider_prices_the_option():
    s = Scenario(hw="laptop-ddr5-16gb", api_model="gemma-4-31b")
    offers = build_cost_view(s, CAT).api_offers
    assert len(offers) >= 2
    other = offers[1]
    v = build_cost_view(s.model_copy(update={"api_prov": other.provider}), CAT)
    expected = 100 * other.usd_per_mtok_input + 20 * other.usd_per_mtok_output
    assert v.comparison.options["api"].usd_per_month == pytest.approx(expected)
    # A provider that does not offer this model falls back to the catalog's first, never to an error.
    assert build_cost_view(s.model_copy(update={"api_prov": "nobody"}), CAT).api_provider == offers[0].provider


def test_typed_and_stored_throughput_replace_the_forecast():
    typed = build_cost_view(Scenario(tput="typed", meas_tps=200), CAT)
    assert typed.request.tokens_per_s == 200 and typed.plan.throughput_source == "measured"
    level = {"run_id": "ab12", "model": "gemma4:e4b", "concurrency": 4, "tokens_per_s": 321.0, "hint": True}
    stored = build_cost_view(Scenario(tput="probe", meas_run="ab12@4"), CAT, SessionFacts(rate_levels=(level,)))
    assert (stored.request.tokens_per_s, stored.request.measured_concurrency) == (321.0, 4)
    # Without stored runs the link's "probe" falls back to the forecast.
    assert build_cost_view(Scenario(tput="probe"), CAT).throughput_source == "forecast"


def test_the_default_scenario_prices_all_three_options_with_a_labelled_api_substitute():
    v = build_cost_view(Scenario(tor="api"), CAT)  # nobody hosts E4B: the API option prices the nearest hosted model
    assert v.priced == ["owned", "cloud", "api"] and v.tornado_option == "api"
    assert "nobody hosts Gemma 4 E4B" in v.fallback_label
    assert build_cost_view(Scenario(tor="cloud"), CAT).tornado_option == "cloud"


def test_tornado_option_falls_back_to_a_priced_one(monkeypatch):
    v = build_cost_view(Scenario(tor="api"), CAT)
    monkeypatch.setattr(type(v), "priced", property(lambda self: ["owned", "cloud"]))  # as when no API is priced
    assert v.tornado_option == "owned"


# ---------------------------------------------------------------- guide and variants


def test_guide_view_ranks_for_the_target_and_hides_ruled_out_rows():
    v = build_guide_view(Scenario(tgt="gpu-24", ctx=8192), CAT)
    assert v.request.hardware_ids == TARGET_BY_ID["gpu-24"].hardware_ids and v.where == TARGET_BY_ID["gpu-24"].label
    ruled_out = sum(c.status == "ruled out" for c in v.ranked)
    assert ruled_out > 0 and len(v.rows()) == len(v.ranked) - ruled_out
    assert len(build_guide_view(Scenario(tgt="gpu-24", ctx=8192, show_out=True), CAT).rows()) == len(v.ranked)


def test_variants_view_filters_families_and_keeps_a_valid_score():
    v = build_variants_view(Scenario(fams="gemma4", score="no such benchmark"), CAT)
    assert v.chosen == ["gemma4"] and {r["id"] for r in v.rows} == {
        m.id for m in CAT.models.values() if m.family == "gemma4"
    }
    assert v.score == v.scores[0] and all(p["score"] is not None for p in v.points)
    assert build_variants_view(Scenario(), CAT).chosen == v.families


def test_the_concurrency_chart_is_the_simulated_closed_loop_of_the_headline():
    # One answer per question: the chart's point at the scenario's users is the headline's figure, and an engine's
    # slots show (llama-server started with -np = the users; Ollama's single default slot queues the rest).
    s = Scenario(model="gemma-4-e4b", hw="rtx-4090", engine="llama.cpp", quant="Q4_K_M", conc=4)
    v = build_speed_view(s, CAT)
    at = {p.concurrency: p for p in v.concurrency}
    assert at[4].aggregate_tokens_per_s == pytest.approx(v.forecast.aggregate_tokens_per_s, rel=0.03)
    assert at[8].aggregate_tokens_per_s > 1.3 * at[2].aggregate_tokens_per_s
    one_slot = {
        p.concurrency: p for p in build_speed_view(Scenario(**{**s.model_dump(), "engine": "ollama"}), CAT).concurrency
    }
    assert one_slot[8].aggregate_tokens_per_s == pytest.approx(one_slot[1].aggregate_tokens_per_s, rel=0.05)
    assert one_slot[8].ttft_s > 5 * one_slot[1].ttft_s  # the other users wait in Ollama's queue
