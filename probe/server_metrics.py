"""Server-side metrics sampled while a level runs: vLLM / llama.cpp Prometheus /metrics, Ollama /api/ps.

A background thread polls every `interval_s` and keeps the gauges that explain latency under load (running and
waiting requests, KV-cache use, prefix-cache counters). Time is `perf_counter()` minus the run's start, the
clock the runner stamps requests with, so the series lines up with client latency. A server without a metrics
endpoint gives a note, never an error. The host guard applies; the API key goes in a header and never into a
note, a log line or the result.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from probe.guard import AllowedHosts, host_and_port, normalize_base_url, scrub

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 0.5
# Kept series and how samples with different labels (engines, models) combine: counts add, ratios take the max.
# vLLM: vllm/v1/metrics/loggers.py (kv_cache_usage_perc, prefix_cache_*_total); gpu_cache_usage_perc and
# gpu_prefix_cache_hit_rate are the v0 engine's names. llama.cpp: tools/server/README.md, "GET /metrics".
KEPT: dict[str, str] = {
    "vllm:num_requests_running": "sum",
    "vllm:num_requests_waiting": "sum",
    "vllm:kv_cache_usage_perc": "max",
    "vllm:gpu_cache_usage_perc": "max",
    "vllm:prefix_cache_queries_total": "sum",
    "vllm:prefix_cache_hits_total": "sum",
    "vllm:gpu_prefix_cache_hit_rate": "max",
    "vllm:num_preemptions_total": "sum",
    "vllm:prompt_tokens_total": "sum",
    "vllm:generation_tokens_total": "sum",
    "llamacpp:requests_processing": "sum",
    "llamacpp:requests_deferred": "sum",
    "llamacpp:kv_cache_usage_ratio": "max",
    "llamacpp:kv_cache_tokens": "sum",
    "llamacpp:n_busy_slots_per_decode": "max",
    "llamacpp:prompt_tokens_total": "sum",
    "llamacpp:tokens_predicted_total": "sum",
}


class MetricsFormatError(ValueError):
    """The /metrics body is not Prometheus text format."""


def parse_metrics_text(text: str) -> tuple[str | None, dict[str, float]]:
    """(source, {name: value}) from Prometheus text: 'vllm', 'llama.cpp' or None when no known series is there."""
    out: dict[str, float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                how = KEPT.get(s.name)
                if how is None:
                    continue
                v = float(s.value)
                out[s.name] = v if s.name not in out else (out[s.name] + v if how == "sum" else max(out[s.name], v))
    except (ValueError, TypeError, IndexError) as e:  # what the text parser raises on a malformed line
        raise MetricsFormatError(f"/metrics is not Prometheus text format ({type(e).__name__})") from None
    if any(k.startswith("vllm:") for k in out):
        return "vllm", out
    if any(k.startswith("llamacpp:") for k in out):
        return "llama.cpp", out
    return None, out


def parse_ollama_ps(obj: Any) -> dict[str, float] | None:
    """Loaded models from Ollama's GET /api/ps (docs.ollama.com/api): count and bytes; None if not that shape."""
    models = obj.get("models") if isinstance(obj, dict) else None
    if not isinstance(models, list):
        return None
    models = [m for m in models if isinstance(m, dict)]
    return {
        "ollama:models_loaded": float(len(models)),
        "ollama:size_bytes": float(sum(m.get("size") or 0 for m in models)),
        "ollama:size_vram_bytes": float(sum(m.get("size_vram") or 0 for m in models)),
    }


class MetricsSampler:
    """Polls one endpoint in a daemon thread; `result()` gives {"source", "samples", "note"}."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        t0_perf_s: float | None = None,
        allowed: AllowedHosts | None = None,
        timeout_s: float = 2.0,
        on_sample: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        host, port = host_and_port(self.base_url)
        (allowed or AllowedHosts.from_env()).check(host, port)  # HostNotAllowed before any request
        self._key = api_key
        self.interval_s = max(0.05, interval_s)
        self.t0_perf_s = time.perf_counter() if t0_perf_s is None else t0_perf_s
        self.timeout_s = timeout_s
        self.on_sample = on_sample
        self.source: str | None = None
        self.samples: list[dict[str, Any]] = []
        self.note: str | None = None
        self.failed_polls = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._session = requests.Session()
        if api_key:
            self._session.headers["Authorization"] = f"Bearer {api_key}"

    # -- lifecycle
    def start(self) -> MetricsSampler:
        """Find the metrics endpoint and start polling; without one, keep a note and poll nothing."""
        self.source = self._detect()
        if self.source is not None:
            self._thread = threading.Thread(target=self._loop, name="probe-metrics", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        """Stop polling (after one last sample) and return the series."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout_s + self.interval_s + 1)
        self._session.close()
        return self.result()

    def __enter__(self) -> MetricsSampler:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def result(self) -> dict[str, Any]:
        """The JSON shape: {"source", "samples": [{"t_s", "metrics"}], "note"}."""
        return {"source": self.source, "samples": list(self.samples), "note": self.note}

    # -- polling
    def _get(self, path: str) -> requests.Response | None:
        try:
            return self._session.get(self.base_url + path, timeout=self.timeout_s)
        except requests.RequestException as e:
            log.debug("metrics poll %s failed: %s", path, scrub(f"{type(e).__name__}: {e}", self._key))
            return None

    def _detect(self) -> str | None:
        resp = self._get("/metrics")
        if resp is not None and resp.status_code == 200:
            try:
                source, values = parse_metrics_text(resp.text)
            except MetricsFormatError as e:
                self.note = str(e)
                return None
            if source is not None:
                self.source = source
                self._record(values)
                return source
            self.note = "/metrics answers but has none of the vLLM or llama.cpp series"
            return None
        ps = self._get("/api/ps")
        if ps is not None and ps.status_code == 200:
            try:
                values = parse_ollama_ps(ps.json())
            except ValueError:
                values = None
            if values is not None:
                self.source = "ollama"
                self._record(values)
                return "ollama"
        status = "no answer" if resp is None else f"HTTP {resp.status_code}"
        self.note = f"no metrics endpoint: /metrics gave {status} and /api/ps is not Ollama's"
        return None

    def _poll(self) -> None:
        path = "/api/ps" if self.source == "ollama" else "/metrics"
        resp = self._get(path)
        if resp is None or resp.status_code != 200:
            self.failed_polls += 1
            return
        try:
            values = parse_ollama_ps(resp.json()) if self.source == "ollama" else parse_metrics_text(resp.text)[1]
        except (ValueError, MetricsFormatError):
            values = None
        if values is None:
            self.failed_polls += 1
            return
        self._record(values)

    def _record(self, values: dict[str, float]) -> None:
        sample = {"t_s": time.perf_counter() - self.t0_perf_s, "metrics": values}
        self.samples.append(sample)
        if self.on_sample is not None:
            self.on_sample(sample)

    def _loop(self) -> None:
        next_t = time.perf_counter() + self.interval_s
        while not self._stop.wait(max(0.0, next_t - time.perf_counter())):
            self._poll()
            next_t += self.interval_s
        self._poll()  # the state at the end of the level


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Peak and mean of each gauge over a level; the prefix-cache hit ratio from the counters' increase."""
    names = sorted({n for s in samples for n in s["metrics"]})
    out: dict[str, Any] = {}
    for n in names:
        vals = [s["metrics"][n] for s in samples if n in s["metrics"]]
        if not n.endswith("_total"):
            out[n] = {"max": max(vals), "mean": sum(vals) / len(vals)}
    first = next((s["metrics"] for s in samples if "vllm:prefix_cache_queries_total" in s["metrics"]), None)
    last = next((s["metrics"] for s in reversed(samples) if "vllm:prefix_cache_queries_total" in s["metrics"]), None)
    if first and last:
        queries = last["vllm:prefix_cache_queries_total"] - first["vllm:prefix_cache_queries_total"]
        hits = last.get("vllm:prefix_cache_hits_total", 0.0) - first.get("vllm:prefix_cache_hits_total", 0.0)
        out["prefix_cache_hit_ratio"] = hits / queries if queries > 0 else None
    return out
