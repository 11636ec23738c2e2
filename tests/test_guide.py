"""Decision guide: the ranking follows the calculators, and each published claim gets the verdict its numbers give."""

from __future__ import annotations

import typing

import pytest

from calculators import memory
from calculators.guide import (
    CLAIMS,
    ENGINE_QUANTS,
    GB,
    PUBLISHED_GUIDES,
    TARGET_BY_ID,
    TARGETS,
    GiB,
    GuideRequest,
    check_claim,
    check_claims,
    fit_verdict,
    footprint_verdict,
    quality_scores,
    rank,
    ratio_verdict,
)
from calculators.serving.forecast import served_forecast
from model_specs import load_catalog
from ui.scenario import GuideTarget, GuideWorkload

CAT = load_catalog()
CHECKS = {c.claim.id: c for c in check_claims(CAT)}


# ---------------------------------------------------------------- verdict logic (pure, numbers only)


def test_footprint_verdict_31b_bf16_is_far_above_20_gb():
    # 31B BF16 weights ~ 57 GiB (about 61 GB) against a claimed 20 GB: three times too small -> does not hold.
    assert footprint_verdict(20 * GB, 57 * GiB).status == "does not hold"


def test_footprint_verdict_tolerance_edges():
    # Within +-25 % of the claimed figure holds; just outside does not.
    assert footprint_verdict(20 * GB, 24.9 * GB).status == "holds"
    assert footprint_verdict(20 * GB, 15.1 * GB).status == "holds"
    assert footprint_verdict(20 * GB, 25.1 * GB).status == "does not hold"
    assert footprint_verdict(20 * GB, 14.9 * GB).status == "does not hold"


def test_footprint_verdict_takes_the_first_matching_condition():
    v = footprint_verdict(1.5 * GB, 4.2 * GB, [("text only", 3.3 * GB), ("mmap tables", 1.42 * GB)])
    assert (v.status, v.condition, v.text) == ("holds only with", "mmap tables", "holds only with mmap tables")
    assert footprint_verdict(1.5 * GB, 4.2 * GB, [("text only", 3.3 * GB)]).status == "does not hold"
    with pytest.raises(ValueError):
        footprint_verdict(0, 1)


def test_fit_and_ratio_verdicts():
    assert fit_verdict(True, [("x", True)]).status == "holds"
    assert fit_verdict(False, [("a", False), ("b", True)]).text == "holds only with b"
    assert fit_verdict(False, [("a", False)]).status == "does not hold"
    assert ratio_verdict(0.75, 0.75).status == "holds"
    assert ratio_verdict(0.74, 0.75).status == "does not hold"


# ---------------------------------------------------------------- the claims, against the calculators


def test_every_claim_has_a_source_and_a_verdict():
    assert len(CLAIMS) >= 8 and len({c.id for c in CLAIMS}) == len(CLAIMS)
    for c in CLAIMS:
        assert c.source == PUBLISHED_GUIDES or c.source.startswith("https://"), c.id
        assert CHECKS[c.id].verdict.status in ("holds", "holds only with", "does not hold")
        assert CHECKS[c.id].figure and CHECKS[c.id].detail


def test_31b_fp16_20gb_does_not_hold_and_names_the_format_that_weighs_20gb():
    chk = CHECKS["31b-fp16-20gb"]
    w = memory.weights(CAT.model("gemma-4-31b"), "F16").total_bytes
    assert chk.computed_bytes == w
    # 30.7 B parameters x 2 bytes (HF safetensors ~62 GB, reference/gemma-family.md): about 3x the claim.
    assert 55 * GiB < w < 60 * GiB
    assert chk.verdict.status == "does not hold"
    assert "Q4_K_M" in chk.detail  # 4-bit weights are what weigh ~20 GB


def test_31b_int4_12gb_does_not_hold():
    chk = CHECKS["31b-int4-12gb"]
    # Q4_0 is 4.5 bits/weight (ggml block table): ~17 GiB for 31B, 1.5x the claimed 12 GB even text-only.
    assert 16 * GiB < chk.computed_bytes < 19 * GiB
    assert chk.verdict.status == "does not hold"


def test_31b_fp16_62gb_holds():
    assert CHECKS["31b-fp16-62gb"].verdict.status == "holds"


def test_26b_bf16_on_one_24gb_card_holds_only_with_experts_in_system_ram():
    chk = CHECKS["26b-bf16-one-24gb-gpu"]
    assert chk.verdict.status == "holds only with"
    assert "--cpu-moe" in chk.verdict.condition
    # The literal reading: ~48 GiB of BF16 weights cannot sit in 24 GiB.
    est = memory.estimate(
        memory.MemoryRequest(
            model=CAT.model("gemma-4-26b-a4b"), quant="BF16", context_tokens=8192, hardware=CAT.device("rtx-4090")
        )
    )
    assert not est.fits and est.weights_bytes > 45 * GiB
    cpu_moe = memory.estimate(
        memory.MemoryRequest(
            model=CAT.model("gemma-4-26b-a4b"),
            quant="BF16",
            context_tokens=8192,
            hardware=CAT.device("rtx-4090"),
            offload_experts=True,
        )
    )
    assert cpu_moe.fits and f"{cpu_moe.placement.host_bytes / GiB:,.1f} GiB of system RAM" in chk.detail


def test_two_4090s_do_not_serve_31b_bf16():
    chk = CHECKS["31b-bf16-two-4090"]
    assert chk.verdict.status == "does not hold"
    assert "FP8 on vLLM" in chk.detail  # what fits instead
    est = memory.estimate(
        memory.MemoryRequest(
            model=CAT.model("gemma-4-31b"),
            quant="BF16",
            context_tokens=8192,
            engine="vllm",
            hardware=CAT.device("rtx-4090"),
            gpus=2,
        )
    )
    assert est.weights_bytes > 48 * GiB * 0.9  # more than vLLM's 90 % share of both cards


def test_e2b_1_5gb_holds_only_with_tables_memory_mapped():
    chk = CHECKS["e2b-1.5gb"]
    assert chk.verdict.status == "holds only with" and "memory-mapped" in chk.verdict.condition
    # All Q4_0 weights with PLE and encoders are ~4 GiB (PLE alone 1.8 GiB): far from 1.5 GB as a whole.
    assert chk.computed_bytes > 3.5 * GiB


def test_e4b_on_a_4gb_phone_with_128k_does_not_hold():
    chk = CHECKS["e4b-phone-4gb-128k"]
    assert chk.verdict.status == "does not hold"
    est = memory.estimate(
        memory.MemoryRequest(
            model=CAT.model("gemma-4-e4b"),
            quant="Q4_0",
            context_tokens=131072,
            text_only=True,
            kv_dtype="q4_0",
            hardware=CAT.device("phone-4gb"),
        )
    )
    assert not est.fits and est.max_context_tokens == 0


def test_26b_as_fast_as_a_4b_model_uses_the_forecast():
    chk = CHECKS["26b-as-fast-as-4b"]
    a = served_forecast(CAT.model("gemma-4-26b-a4b"), "Q4_K_M", CAT.device("rtx-3090"), context_tokens=4096)
    b = served_forecast(CAT.model("gemma-4-e4b"), "Q4_K_M", CAT.device("rtx-3090"), context_tokens=4096)
    assert chk.ratio == pytest.approx(a.decode_tokens_per_s / b.decode_tokens_per_s)
    # A4B reads ~4B active parameters per token (plus the shared layers): about E4B's speed, above the 75 % bar.
    assert chk.ratio >= 0.75 and chk.verdict.status == "holds"


def test_check_claim_is_deterministic():
    c = CLAIMS[0]
    assert check_claim(CAT, c) == check_claim(CAT, c)


# ---------------------------------------------------------------- ranking


def test_target_ids_match_the_scenario_literal():
    assert set(typing.get_args(GuideTarget)) == set(TARGET_BY_ID)
    for t in TARGETS:
        assert t.engine in ENGINE_QUANTS
        for h in t.hardware_ids:
            assert h in CAT.hardware, (t.id, h)


def test_workload_literal_matches_the_benchmark_map():
    assert set(typing.get_args(GuideWorkload)) == {"chat", "agentic", "reasoning"}


def test_quality_scores_are_relative_to_the_best_published():
    q = quality_scores(CAT.models.values(), "reasoning")
    assert q["gemma-4-31b"][0] == pytest.approx(100.0)  # best on all four reasoning scores in the catalog
    # 26B A4B: AIME 88.3/89.2, LCB 77.1/80.0, GPQA 82.3/84.3, Codeforces 1718/2150 (gemma4.yaml model card).
    expected = (88.3 / 89.2 + 77.1 / 80.0 + 82.3 / 84.3 + 1718 / 2150) / 4 * 100
    assert q["gemma-4-26b-a4b"][0] == pytest.approx(expected)
    assert q["gemma-3-270m"][0] is None


def test_ranking_on_a_24gb_gpu_follows_fit_and_scores():
    t = TARGET_BY_ID["gpu-24"]
    ranked = rank(
        CAT, GuideRequest(hardware_ids=t.hardware_ids, engine=t.engine, context_tokens=8192, workload="reasoning")
    )
    assert [c.rank for c in ranked] == list(range(1, len(ranked) + 1))
    top = ranked[0]
    assert top.status == "recommended" and top.model_id == "gemma-4-31b" and top.quant == "Q4_K_M"
    # The figures in the sentence are the memory calculator's.
    est = memory.estimate(
        memory.MemoryRequest(
            model=CAT.model(top.model_id),
            quant=top.quant,
            context_tokens=8192,
            text_only=True,
            hardware=CAT.device(top.hardware_id),
        )
    )
    assert top.margin_bytes == est.margin_bytes
    assert f"{est.margin_bytes / GiB:,.1f} GiB to spare" in top.sentence
    # BF16 31B (~58 GiB) cannot be on a 24 GB card.
    bf16 = next(c for c in ranked if c.model_id == "gemma-4-31b" and c.quant == "BF16")
    assert bf16.status == "ruled out" and not bf16.fits
    statuses = [c.status for c in ranked]
    assert statuses == sorted(statuses, key=["recommended", "works", "ruled out"].index)


def test_modalities_and_context_rule_variants_out():
    audio = rank(
        CAT,
        GuideRequest(
            hardware_ids=("h100-80gb-sxm",), engine="vllm", context_tokens=100_000, modalities=frozenset({"audio"})
        ),
    )
    # Only the E-models take audio (gemma4.yaml modalities); everything else is ruled out, naming why.
    ok = {c.model_id for c in audio if c.status != "ruled out"}
    assert ok and ok <= {"gemma-4-e2b", "gemma-4-e4b", "gemma-3n-e2b", "gemma-3n-e4b"}
    assert "no audio input" in next(c for c in audio if c.model_id == "gemma-4-31b").sentence
    long = rank(CAT, GuideRequest(hardware_ids=("h100-80gb-sxm",), engine="vllm", context_tokens=200_000))
    for c in long:
        if CAT.model(c.model_id).context_tokens < 200_000:
            assert c.status == "ruled out" and "exceeds its maximum" in c.sentence
    assert any(c.status != "ruled out" for c in long)  # 31B and 26B A4B reach 256K


def test_privacy_drops_the_api_cost_and_budget_flags_expensive_variants():
    t = TARGET_BY_ID["server"]
    base = GuideRequest(hardware_ids=t.hardware_ids, engine=t.engine, gpus=t.gpus, model_ids=("gemma-4-31b",))
    open_ = rank(CAT, base)
    private = rank(CAT, GuideRequest(**{**base.__dict__, "private": True, "budget_usd_per_month": 100.0}))
    assert any(c.api_usd_per_month is not None for c in open_)
    assert all(c.api_usd_per_month is None for c in private)
    # An H100 rented always-on costs 730 h x the cheapest catalog price (> $1,900): over a $100 budget.
    fitting = [c for c in private if c.fits]
    assert fitting and all(c.status == "works" and any("budget" in p for p in c.problems) for c in fitting)
    assert all(c.usd_per_month > 100 for c in fitting)


def test_bad_requests_are_refused_with_a_message():
    with pytest.raises(ValueError, match="workload"):
        GuideRequest(hardware_ids=("rtx-4090",), workload="poetry")
    with pytest.raises(ValueError, match="device"):
        GuideRequest(hardware_ids=())
    with pytest.raises(ValueError, match="modalities"):
        GuideRequest(hardware_ids=("rtx-4090",), modalities=frozenset({"smell"}))
