"""The scheduler simulator against closed-form queueing results and the step model it runs over."""

import math

import pytest

from calculators.serving.metrics import capacity, summarize
from calculators.serving.simulator import AffineStep, Load, Slo, llamacpp, ollama, simulate, vllm
from model_specs import load_catalog

CAT = load_catalog()
DEV = CAT.device  # the serving package takes catalog objects, not ids


def test_one_slot_with_poisson_arrivals_is_an_md1_queue():
    # Deterministic service S = 10 steps of 10 ms = 0.1 s, Poisson arrivals at 7/s: rho = 0.7. Pollaczek-Khinchine
    # mean wait for M/D/1: Wq = rho / (2 mu (1 - rho)) = 0.1167 s. Averaged over two seeds of 40,000 requests.
    step = AffineStep(fixed_s=0.01)
    waits = []
    for seed in (0, 1):
        load = Load(rate_per_s=7.0, requests=40_000, prompt_tokens=1, output_tokens=10, seed=seed)
        r = simulate(step, llamacpp(n_parallel=1), load)
        waits += [r.first_token_s[i] - r.arrival_s[i] - 0.01 for i in range(load.requests)]
    wq = 0.7 / (2 * 10 * (1 - 0.7))
    assert sum(waits) / len(waits) == pytest.approx(wq, rel=0.04)


def test_empty_server_reproduces_the_step_model_exactly():
    # One request on an idle vLLM: prefill of P tokens in one step (chunk fits the budget), then O-1 decode steps,
    # each reading the KV of the context so far.
    step = AffineStep(fixed_s=0.004, per_seq_s=1e-4, per_prefill_token_s=2e-5, per_pair_s=1e-9, kv_token_s=1e-7)
    p, o = 1000, 50
    r = simulate(step, vllm(kv_tokens=100_000), Load(concurrency=1, requests=1, prompt_tokens=p, output_tokens=o))
    ttft = step.base_s(0, p, p * p / 2)
    decode = sum(step.base_s(1, 0, 0) + step.kv_token_s * (p + 1 + j) for j in range(o - 1))
    assert r.first_token_s[0] == pytest.approx(ttft, rel=1e-9)
    assert r.finish_s[0] == pytest.approx(ttft + decode, rel=1e-9)


def test_cached_prefix_is_skipped_in_whole_blocks_but_still_attended_and_held():
    # 1,000-token prompt with a 600-token cached prefix: 592 tokens reused (37 blocks of 16); the 408 others are
    # computed attending to the cached ones (pairs = 408 x (592 + 408 / 2)); cached blocks fill the KV like any other.
    step = AffineStep(fixed_s=0.004, per_prefill_token_s=2e-5, per_pair_s=1e-9)
    p, cached, new = 1000, 592, 408
    load = Load(concurrency=1, requests=1, prompt_tokens=p, output_tokens=1, cached_prefix_tokens=600)
    r = simulate(step, vllm(kv_tokens=100_000), load)
    assert r.first_token_s[0] == pytest.approx(step.base_s(0, new, new * (cached + new / 2)), rel=1e-9)
    full = Load(concurrency=1, requests=1, prompt_tokens=p, output_tokens=1, cached_prefix_tokens=p)
    r = simulate(step, vllm(kv_tokens=100_000), full)  # never the last token: 992 cached, 8 computed
    assert r.first_token_s[0] == pytest.approx(step.base_s(0, 8, 8 * (992 + 4)), rel=1e-9)
    # KV: cached blocks are held like computed ones, so 2,500 tokens admit two 1,000-token prompts at a time; the
    # other two start when the first two finish. With 10,000 tokens all four start together.
    busy = Load(concurrency=4, requests=4, prompt_tokens=p, output_tokens=200, cached_prefix_tokens=p)
    tight = simulate(step, vllm(kv_tokens=2_500), busy)
    assert sorted(tight.first_token_s)[2] >= min(tight.finish_s)
    roomy = simulate(step, vllm(kv_tokens=10_000), busy)
    assert max(roomy.first_token_s) < min(roomy.finish_s)


def test_front_end_time_delays_the_scheduler_and_counts_in_ttft():
    # A request reaches the scheduler 30 ms after it is sent: TTFT = 30 ms + the prefill step; a closed loop of one
    # user then sends every 30 ms + prefill + decode, so its throughput falls by that share.
    step = AffineStep(fixed_s=0.01, per_prefill_token_s=1e-5)
    load = Load(concurrency=1, requests=50, prompt_tokens=1000, output_tokens=10)
    s = summarize(simulate(step, vllm(frontend_s=0.03), load))
    assert s["ttft_s"]["p50"] == pytest.approx(0.03 + 0.01 + 0.01, rel=1e-9)
    assert s["request_throughput_per_s"] == pytest.approx(1 / (0.03 + 0.02 + 9 * 0.01), rel=0.01)


def test_chunked_prefill_splits_a_long_prompt_over_budget_sized_steps():
    step = AffineStep(fixed_s=0.01, per_prefill_token_s=1e-5)
    r = simulate(step, vllm(max_num_batched_tokens=512), Load(concurrency=1, requests=1, prompt_tokens=2048))
    assert r.first_token_s[0] == pytest.approx(4 * 0.01 + 2048 * 1e-5, rel=1e-9)


@pytest.mark.parametrize("users, slots", [(8, 8), (16, 8), (8, 32)])
def test_closed_loop_throughput_is_busy_slots_over_service_time(users, slots):
    # Every step costs 10 ms whatever it holds, so each request takes O = 20 steps = 0.2 s once it has a slot.
    # Throughput = min(users, slots) / 0.2 s; Little's law gives the mean latency = users / throughput.
    step = AffineStep(fixed_s=0.01)
    load = Load(concurrency=users, requests=2000, prompt_tokens=1, output_tokens=20)
    s = summarize(simulate(step, llamacpp(n_parallel=slots), load))
    busy = min(users, slots)
    assert s["request_throughput_per_s"] == pytest.approx(busy / 0.2, rel=0.01)
    assert s["e2e_s"]["mean"] == pytest.approx(users / (busy / 0.2), rel=0.01)
    assert s["tpot_s"]["p50"] == pytest.approx(0.01, rel=1e-6)


def test_vllm_kv_block_exhaustion_preempts_and_queues():
    # 64 users of 256 + 512 tokens need ~49k tokens of KV; 6,000 tokens hold about 8 of them at full length.
    step = AffineStep(fixed_s=0.01, per_seq_s=1e-4, per_prefill_token_s=1e-5)
    load = Load(concurrency=64, requests=400, prompt_tokens=256, output_tokens=512)
    roomy = summarize(simulate(step, vllm(kv_tokens=200_000), load))
    tight = summarize(simulate(step, vllm(kv_tokens=6_000), load))
    assert roomy["preemptions"] == 0
    assert tight["preemptions"] > 0
    assert tight["output_tokens_per_s"] < 0.5 * roomy["output_tokens_per_s"]
    assert tight["ttft_s"]["p50"] > 3 * roomy["ttft_s"]["p50"]


def test_slots_engine_admits_only_what_fits_the_unified_kv():
    # llama.cpp cannot preempt: with room for 2 whole contexts, 8 slots serve like 2.
    step = AffineStep(fixed_s=0.01)
    load = Load(concurrency=8, requests=400, prompt_tokens=100, output_tokens=20)
    two = summarize(simulate(step, llamacpp(n_parallel=8, n_ctx=250), load))
    assert two["request_throughput_per_s"] == pytest.approx(2 / 0.2, rel=0.02)
    assert two["preemptions"] == 0


def test_ollama_rejects_beyond_its_queue():
    step = AffineStep(fixed_s=0.01)
    load = Load(rate_per_s=1000.0, requests=300, prompt_tokens=1, output_tokens=20, arrival="constant")
    s = summarize(simulate(step, ollama(num_parallel=1, max_queue=10), load))
    assert s["rejected"] > 250
    assert s["served"] + s["rejected"] == 300


def test_concurrency_search_finds_the_slot_count():
    # k = 4 slots, service 0.2 s; TTFT target 0.1 s: up to 4 users never wait, a fifth always waits a service.
    step = AffineStep(fixed_s=0.01)
    load = Load(concurrency=1, requests=200, prompt_tokens=1, output_tokens=20)
    cap = capacity(step, llamacpp(n_parallel=4), load, Slo(ttft_s=0.1), attainment=0.95, search="concurrency")
    assert cap["value"] == 4
    assert cap["first_failing_value"] == 5
    assert cap["attainment"] >= 0.95 > cap["first_failing_attainment"]
    assert set(cap) == CAPACITY_KEYS  # the probe's capacity object (docs/capacity.md on the capacity branch)
    assert cap["at_least"] is False and cap["note"] is None and cap["levels_measured"] == len(cap["levels"])
    assert [lv["passed"] for lv in cap["levels"]] == [lv["value"] <= 4 for lv in cap["levels"]]


CAPACITY_KEYS = {
    "search",
    "value",
    "at_least",
    "target_attainment",
    "attainment",
    "goodput_requests_per_s",
    "goodput_output_tokens_per_s",
    "first_failing_value",
    "first_failing_attainment",
    "levels_measured",
    "note",
    "slo",
    "levels",
}


def _md1_wait_cdf(rate: float, service_s: float, t: float) -> float:
    """Erlang's closed form of the M/D/1 waiting-time distribution P(W <= t)."""
    rho = rate * service_s
    terms = (
        (rate * (k * service_s - t)) ** k / math.factorial(k) * math.exp(-rate * (k * service_s - t))
        for k in range(int(t // service_s) + 1)
    )
    return (1 - rho) * sum(terms)


def test_rate_search_lands_near_the_md1_answer():
    # One slot, deterministic service 0.1 s, target TTFT <= 0.21 s (wait <= 0.2 s) for 90 % of requests: the
    # M/D/1 rate with P(W <= 0.2) = 0.9, found by bisection on the closed form, is the answer (~5.87 /s).
    lo, hi = 0.1, 9.99
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _md1_wait_cdf(mid, 0.1, 0.2) >= 0.9 else (lo, mid)
    step = AffineStep(fixed_s=0.01)
    load = Load(rate_per_s=1.0, requests=4000, prompt_tokens=1, output_tokens=10)
    cap = capacity(step, llamacpp(n_parallel=1), load, Slo(ttft_s=0.21), attainment=0.9, search="rate")
    assert cap["value"] == pytest.approx(lo, rel=0.1)
    assert cap["first_failing_value"] / cap["value"] <= 1.06


def test_bad_load_is_a_clear_error():
    with pytest.raises(ValueError, match="closed loop"):
        Load(concurrency=4, rate_per_s=2.0)
    with pytest.raises(ValueError, match="arrival"):
        Load(rate_per_s=2.0, arrival="bursty")
    with pytest.raises(ValueError, match="cached prefix"):
        Load(concurrency=1, prompt_tokens=100, cached_prefix_tokens=101)
    with pytest.raises(ValueError, match="cannot hold one request"):
        simulate(AffineStep(0.01), vllm(kv_tokens=100), Load(concurrency=1, prompt_tokens=512))


def test_goodput_spec_parses_like_vllm_bench_and_rejects_bad_input():
    from calculators.serving.forecast import parse_goodput

    assert parse_goodput(["ttft:500", "tpot:50"]) == Slo(ttft_s=0.5, tpot_s=0.05)
    assert parse_goodput("e2e:2000") == Slo(e2e_s=2.0)
    for bad in ("ttft", "ttft:abc", "latency:5", "tpot:-1", ""):
        with pytest.raises(ValueError):
            parse_goodput(bad)


def test_speed_cli_serving_fields_with_capacity_search():
    from calculators.serving.forecast import parse_goodput, serving_fields

    slo = parse_goodput("ttft:500 tpot:50")
    r = serving_fields(
        CAT.model("gemma-4-26b-a4b"), "FP8", DEV("h100-80gb-sxm"), "vllm", 8192, 1024, 256, 32,
        goodput=slo, search="concurrency", search_max=512, requests=300,
    )  # fmt: skip
    assert r["ttft_s_p95"] >= r["ttft_s_p50"] > 0
    assert 0 < r["itl_s"] <= 0.05
    cap = r["capacity"]
    assert cap["search"] == "concurrency" and cap["value"] >= 32
    assert cap["first_failing_value"] == cap["value"] + 1
    assert cap["attainment"] >= 0.95 > cap["first_failing_attainment"]
    one = serving_fields(
        CAT.model("gemma-4-26b-a4b"), "FP8", DEV("h100-80gb-sxm"), "vllm", 8192, 1024, 256, 1, requests=20
    )
    # MoE: 32 sequences touch more experts than one, so the gain is well below 32x but far above 1x.
    assert 5 < r["decode_aggregate_tokens_per_s"] / one["decode_aggregate_tokens_per_s"] < 20
    with pytest.raises(ValueError, match="goodput"):
        serving_fields(CAT.model("gemma-4-26b-a4b"), "FP8", DEV("h100-80gb-sxm"), "vllm", search="rate")
