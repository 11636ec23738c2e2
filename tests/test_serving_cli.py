"""`python -m calculators speed` serving fields: the simulator's TTFT / ITL / aggregate decode, goodput and the
capacity search (--goodput / --slo-attainment / --search / --search-max), with one-line errors and exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from calculators.__main__ import main
from tests.test_serving_sim import CAPACITY_KEYS

ROOT = Path(__file__).resolve().parents[1]
E4B = ["--model", "gemma-4-e4b", "--quant", "Q4_K_M", "--hardware", "rtx-4090"]
VLLM = ["--model", "gemma-4-31b", "--quant", "FP8", "--engine", "vllm", "--hardware", "h100-80gb-sxm"]


def speed(capsys, *args: str) -> tuple[int, dict | None, str]:
    rc = main(["speed", *args, "--json"])
    out, err = capsys.readouterr()
    return rc, (json.loads(out) if rc == 0 else None), err


def test_single_stream_serving_equals_the_step_model(capsys):
    # One user on llama.cpp: no queue, no batch. ITL is one decode step, aggregate decode the single-stream rate.
    rc, d, _ = speed(capsys, *E4B, "--concurrency", "1")
    assert rc == 0
    assert d["decode_aggregate_tokens_per_s"] == pytest.approx(d["single_stream_decode_tokens_per_s"], rel=0.02)
    assert d["itl_s"] == pytest.approx(1 / d["decode_aggregate_tokens_per_s"], rel=0.02)
    assert d["ttft_s_p50"] == pytest.approx(d["ttft_s_p95"], rel=1e-6)  # every request alike, none waits
    assert "capacity" not in d and "goodput" not in d


def test_concurrency_batches_decode_and_spreads_latency(capsys):
    _, one, _ = speed(capsys, *E4B, "--concurrency", "1")
    _, eight, _ = speed(capsys, *E4B, "--concurrency", "8")
    # Weights are read once per step for all 8 sequences: aggregate grows, but less than 8x (KV and compute grow).
    assert 3 * one["decode_aggregate_tokens_per_s"] < eight["decode_aggregate_tokens_per_s"]
    assert eight["decode_aggregate_tokens_per_s"] < 8 * one["decode_aggregate_tokens_per_s"]
    assert eight["itl_s"] > one["itl_s"] and eight["ttft_s_p95"] > one["ttft_s_p95"]
    assert eight["ttft_s_p50"] <= eight["ttft_s_p95"] and eight["itl_s"] <= eight["itl_s_p95"]
    # Ranges of the forecast still contain their point with the serving fields added.
    for k in ("decode_tokens_per_s", "prefill_tokens_per_s", "ttft_s", "e2e_s", "aggregate_tokens_per_s"):
        assert eight[f"{k}_low"] <= eight[k] <= eight[f"{k}_high"], k


def test_capacity_search_is_the_boundary_of_goodput(capsys):
    slo = ["--goodput", "ttft:1000", "tpot:60"]
    rc, d, _ = speed(capsys, *VLLM, *slo, "--search", "concurrency")
    assert rc == 0
    cap = d["capacity"]
    assert set(cap) == CAPACITY_KEYS and cap["search"] == "concurrency"
    n = cap["value"]
    assert n >= 2 and cap["first_failing_value"] == n + 1 and cap["at_least"] is False
    assert cap["attainment"] >= 0.95 > cap["first_failing_attainment"]
    assert cap["slo"] == {"ttft_s": 1.0, "tpot_s": 0.06, "e2e_s": None, "attainment": 0.95}
    # The same load run directly (no search) meets the SLO at N users and misses it at N + 1.
    _, at, _ = speed(capsys, *VLLM, *slo, "--concurrency", str(n))
    _, over, _ = speed(capsys, *VLLM, *slo, "--concurrency", str(n + 1))
    assert at["goodput"]["attainment"] == pytest.approx(cap["attainment"], abs=1e-9)
    assert over["goodput"]["attainment"] < 0.95


def test_looser_targets_never_lower_capacity(capsys):
    caps = []
    for ttft_ms, attain in (("500", "0.99"), ("500", "0.9"), ("2000", "0.9")):
        _, d, _ = speed(
            capsys, *VLLM, "--goodput", f"ttft:{ttft_ms}", "--slo-attainment", attain, "--search", "concurrency"
        )
        caps.append(d["capacity"]["value"])
    assert caps[0] <= caps[1] < caps[2]


def test_search_max_passed_says_at_least(capsys):
    rc, d, _ = speed(capsys, *VLLM, "--goodput", "e2e:60000", "--search", "concurrency", "--search-max", "4")
    assert rc == 0
    cap = d["capacity"]
    assert cap["value"] == 4 and cap["at_least"] is True and cap["first_failing_value"] is None
    assert "raise --search-max" in cap["note"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--goodput", "ttfb:100"], "unknown goodput target"),
        (["--goodput", "ttft:fast"], "number of milliseconds"),
        (["--goodput", "ttft:-5"], "must be positive"),
        (["--goodput", "ttft:100", "--slo-attainment", "0"], "--slo-attainment must be in (0, 1]"),
        (["--goodput", "ttft:100", "--slo-attainment", "1.5"], "--slo-attainment must be in (0, 1]"),
        (["--goodput", "ttft:100", "--search", "concurrency", "--search-max", "0"], "--search-max must be at least 1"),
        (["--search", "rate"], "--search needs --goodput"),
        (["--goodput", "ttft:100", "--search", "users"], "invalid choice"),
    ],
)
def test_bad_serving_input_exits_2_with_one_line(capsys, extra, message):
    rc, _, err = speed(capsys, *E4B, *extra)
    assert rc == 2 and err.count("\n") == 1 and message in err


def test_rate_search_round_trip():
    out = subprocess.run(
        [sys.executable, "-m", "calculators", "speed", *E4B, "--concurrency", "4"]
        + ["--goodput", "ttft:500", "tpot:50", "--search", "rate", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    cap = json.loads(out.stdout)["capacity"]
    assert cap["search"] == "rate" and cap["value"] > 0
    assert cap["value"] < cap["first_failing_value"] <= cap["value"] * 1.05 + 1e-9  # bisected to 5 %
    assert all(lv["passed"] == (lv["attainment"] >= 0.95) for lv in cap["levels"])


def test_cached_prefix_skips_its_prefill_and_is_checked(capsys):
    # A 2,000-token prompt of which 1,936 are a shared, cached system prompt: one vLLM user computes 64 tokens, so TTFT
    # falls to the API server's time plus one short step; a prefix longer than the prompt is a one-line error.
    base = [*VLLM, "--prompt-tokens", "2000", "--output-tokens", "100", "--context", "4096"]
    _, cold, _ = speed(capsys, *base)
    _, warm, _ = speed(capsys, *base, "--cached-prefix-tokens", "1936")
    assert warm["ttft_s"] < 0.5 * cold["ttft_s"]
    assert warm["ttft_s"] > 0.03  # the API server's front-end time is paid either way
    assert warm["decode_aggregate_tokens_per_s"] == pytest.approx(cold["decode_aggregate_tokens_per_s"])
    rc, _, err = speed(capsys, *base, "--cached-prefix-tokens", "2001")
    assert rc == 2 and "--cached-prefix-tokens must be 0..2000" in err and "Traceback" not in err
