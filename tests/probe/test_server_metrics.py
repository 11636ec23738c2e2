"""Server metrics: Prometheus text (vLLM, llama.cpp) and Ollama /api/ps parsed; sampled live from a server whose
queue is known; no endpoint is a note; the host guard holds; the API key never shows."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from probe.goodput import Slo
from probe.guard import HostNotAllowed
from probe.server_metrics import MetricsFormatError, MetricsSampler, parse_metrics_text, parse_ollama_ps, summarize
from tests.probe.capacity_server import SlotServer, measure_level
from tests.probe.conftest import needs_llama

# Exposition format of vLLM's V1 engine (names and HELP text from vllm/v1/metrics/loggers.py; counters carry
# _total and _created samples as prometheus_client writes them). Two engines, to check label aggregation.
VLLM_TEXT = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="google/gemma-4-e4b-it"} 3.0
vllm:num_requests_running{engine="1",model_name="google/gemma-4-e4b-it"} 2.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="google/gemma-4-e4b-it"} 1.0
vllm:num_requests_waiting{engine="1",model_name="google/gemma-4-e4b-it"} 0.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="google/gemma-4-e4b-it"} 0.4125
vllm:kv_cache_usage_perc{engine="1",model_name="google/gemma-4-e4b-it"} 0.25
# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="google/gemma-4-e4b-it"} 1000.0
vllm:prefix_cache_queries_created{engine="0",model_name="google/gemma-4-e4b-it"} 1.7646e+09
# HELP vllm:prefix_cache_hits_total Prefix cache hits, in terms of number of cached tokens.
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{engine="0",model_name="google/gemma-4-e4b-it"} 250.0
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="google/gemma-4-e4b-it"} 7.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="google/gemma-4-e4b-it"} 9.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="google/gemma-4-e4b-it"} 9.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="google/gemma-4-e4b-it"} 0.93
"""

# llama.cpp's llama-server --metrics (names and HELP text from tools/server/README.md, "GET /metrics").
LLAMACPP_TEXT = """\
# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 6886
# HELP llamacpp:tokens_predicted_total Number of generation tokens processed.
# TYPE llamacpp:tokens_predicted_total counter
llamacpp:tokens_predicted_total 3469
# HELP llamacpp:kv_cache_usage_ratio KV-cache usage. 1 means 100 percent usage.
# TYPE llamacpp:kv_cache_usage_ratio gauge
llamacpp:kv_cache_usage_ratio 0.63
# HELP llamacpp:requests_processing Number of requests processing.
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing 2
# HELP llamacpp:requests_deferred Number of requests deferred.
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 1
"""

# Ollama GET /api/ps response (docs.ollama.com/api, "List running models").
OLLAMA_PS = {
    "models": [
        {"name": "gemma3:4b", "model": "gemma3:4b", "size": 5_971_000_000, "size_vram": 5_971_000_000,
         "digest": "a2af6cc3eb7f", "expires_at": "2026-12-03T14:00:00Z", "context_length": 4096},
    ]
}  # fmt: skip


def test_parse_vllm_text() -> None:
    source, m = parse_metrics_text(VLLM_TEXT)
    assert source == "vllm"
    assert m == {
        "vllm:num_requests_running": 5.0,  # engines add up
        "vllm:num_requests_waiting": 1.0,
        "vllm:kv_cache_usage_perc": 0.4125,  # a ratio: the fuller engine
        "vllm:prefix_cache_queries_total": 1000.0,
        "vllm:prefix_cache_hits_total": 250.0,
    }


def test_parse_llamacpp_text_and_ollama_ps() -> None:
    source, m = parse_metrics_text(LLAMACPP_TEXT)
    assert source == "llama.cpp" and m["llamacpp:requests_processing"] == 2 and m["llamacpp:requests_deferred"] == 1
    assert m["llamacpp:kv_cache_usage_ratio"] == 0.63 and m["llamacpp:tokens_predicted_total"] == 3469
    assert parse_ollama_ps(OLLAMA_PS) == {
        "ollama:models_loaded": 1.0, "ollama:size_bytes": 5.971e9, "ollama:size_vram_bytes": 5.971e9,
    }  # fmt: skip
    assert parse_ollama_ps({"error": "x"}) is None
    assert parse_metrics_text("# HELP other\nprocess_cpu_seconds_total 3.5\n") == (None, {})
    with pytest.raises(MetricsFormatError):
        parse_metrics_text("vllm:num_requests_running{engine=0 3\n")


def test_summary_peak_mean_and_prefix_hit_ratio() -> None:
    samples = [
        {"t_s": 0.0, "metrics": {"vllm:num_requests_running": 1.0, "vllm:prefix_cache_queries_total": 100.0,
                                 "vllm:prefix_cache_hits_total": 10.0}},
        {"t_s": 0.5, "metrics": {"vllm:num_requests_running": 3.0, "vllm:prefix_cache_queries_total": 500.0,
                                 "vllm:prefix_cache_hits_total": 310.0}},
    ]  # fmt: skip
    s = summarize(samples)
    assert s["vllm:num_requests_running"] == {"max": 3.0, "mean": 2.0}
    assert s["prefix_cache_hit_ratio"] == pytest.approx(300 / 400) and "vllm:prefix_cache_hits_total" not in s


class _Fixed(BaseHTTPRequestHandler):
    """Serves fixed bodies per path; 404 elsewhere; 401 without the right key when one is set."""

    def do_GET(self) -> None:  # noqa: N802
        srv: FixedServer = self.server  # type: ignore[assignment]
        srv.seen_auth.append(self.headers.get("Authorization"))
        if srv.key and self.headers.get("Authorization") != f"Bearer {srv.key}":
            self.send_response(401)
            self.end_headers()
            return
        body = srv.routes.get(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_a: object) -> None:
        pass


class FixedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, routes: dict[str, str], key: str | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Fixed)
        self.routes, self.key, self.seen_auth = routes, key, []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def fixed() -> Iterator[type[FixedServer]]:
    made: list[FixedServer] = []

    class Made(FixedServer):
        def __init__(self, *a: object, **k: object) -> None:
            super().__init__(*a, **k)  # type: ignore[arg-type]
            made.append(self)

    yield Made
    for s in made:
        s.shutdown()
        s.server_close()


def test_samples_a_llamacpp_endpoint_at_the_interval(fixed: type[FixedServer]) -> None:
    srv = fixed({"/metrics": LLAMACPP_TEXT})
    t0 = time.perf_counter()
    with MetricsSampler(srv.url, interval_s=0.1, t0_perf_s=t0) as sampler:
        time.sleep(0.55)
    out = sampler.result()
    assert out["source"] == "llama.cpp" and out["note"] is None
    ts = [s["t_s"] for s in out["samples"]]
    assert 5 <= len(ts) <= 9 and ts == sorted(ts) and ts[0] < 0.1
    gaps = [b - a for a, b in zip(ts[1:-1], ts[2:-1], strict=False)]
    assert all(0.05 < g < 0.3 for g in gaps), gaps
    assert out["samples"][0]["metrics"]["llamacpp:requests_deferred"] == 1


def test_ollama_ps_when_there_is_no_metrics(fixed: type[FixedServer]) -> None:
    srv = fixed({"/api/ps": json.dumps(OLLAMA_PS)})
    with MetricsSampler(srv.url, interval_s=0.1) as sampler:
        time.sleep(0.25)
    out = sampler.result()
    assert out["source"] == "ollama" and len(out["samples"]) >= 2
    assert out["samples"][-1]["metrics"]["ollama:size_vram_bytes"] == 5.971e9


def test_no_metrics_endpoint_is_a_note(fixed: type[FixedServer]) -> None:
    srv = fixed({})
    out = MetricsSampler(srv.url).start().stop()
    assert out == {"source": None, "samples": [],
                   "note": "no metrics endpoint: /metrics gave HTTP 404 and /api/ps is not Ollama's"}  # fmt: skip
    other = fixed({"/metrics": "# TYPE up gauge\nup 1\n"})
    assert "none of the vLLM or llama.cpp series" in MetricsSampler(other.url).start().stop()["note"]


def test_api_key_is_sent_as_header_and_never_shown(fixed: type[FixedServer], caplog: pytest.LogCaptureFixture) -> None:
    key = "sk-secret-12345"
    srv = fixed({"/metrics": VLLM_TEXT}, key=key)
    caplog.set_level(logging.DEBUG)
    out = MetricsSampler(srv.url, api_key=key, interval_s=0.1).start().stop()
    assert out["source"] == "vllm" and srv.seen_auth[0] == f"Bearer {key}"
    refused = MetricsSampler(srv.url, api_key="sk-wrong-99999").start().stop()
    assert refused["note"].endswith("HTTP 401 and /api/ps is not Ollama's")
    dead = MetricsSampler("http://127.0.0.1:9", api_key=key, timeout_s=0.5).start().stop()  # nothing listens
    assert dead["note"].startswith("no metrics endpoint: /metrics gave no answer")
    assert key not in json.dumps([out, refused, dead]) and key not in caplog.text


def test_host_guard_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(HostNotAllowed):
        MetricsSampler("http://10.11.12.13:8000")
    with pytest.raises(HostNotAllowed):
        MetricsSampler("http://example.com")


def test_sampled_queue_matches_the_known_load() -> None:
    # 8 users on 4 slots: the server runs 4 and queues 4 for most of the level, and never runs more than 4.
    srv = SlotServer(k=4, ttft_s=0.05, itl_s=0.005).start()
    try:
        t0 = time.perf_counter()
        with MetricsSampler(srv.url, interval_s=0.1, t0_perf_s=t0) as sampler:
            level = measure_level(srv.url, 64, Slo(ttft_s=10.0), concurrency=8)
    finally:
        srv.stop()
    out = sampler.result()
    assert out["source"] == "vllm"
    during = [s for s in out["samples"] if 0.2 < s["t_s"] < level.wall_s - 0.2]
    assert len(during) >= 5
    running = [s["metrics"]["vllm:num_requests_running"] for s in during]
    waiting = [s["metrics"]["vllm:num_requests_waiting"] for s in during]
    assert max(running) == 4 and sum(r == 4 for r in running) >= 0.8 * len(running)
    assert sum(3 <= w <= 4 for w in waiting) >= 0.6 * len(waiting) and max(waiting) <= 4
    assert out["samples"][-1]["metrics"]["vllm:num_requests_running"] == 0  # the last sample is after the level


@needs_llama
def test_real_llama_cpp_server(llama_server: str) -> None:
    out = MetricsSampler(llama_server, interval_s=0.1).start().stop()
    # llama-cpp-python's server has no /metrics (llama.cpp's own llama-server does, with --metrics).
    if out["source"] is None:
        assert out["note"].startswith("no metrics endpoint") and out["samples"] == []
    else:
        assert out["source"] == "llama.cpp" and out["samples"]
