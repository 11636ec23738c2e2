"""Integration: the probe against a real llama.cpp server and the Ollama-protocol server using the same model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests

from probe.aio import stream_once
from probe.clients import Endpoint, OpenAIBackend, detect_backend
from probe.runner import ProbeSettings, run_probe
from tests.probe.conftest import needs_llama
from tests.probe.tiny_model import N_CTX_TRAIN, N_EMBD, N_HEAD, N_HEAD_KV, N_LAYER

pytestmark = [needs_llama, pytest.mark.server, pytest.mark.timeout(300)]


def test_detects_openai_and_lists_the_model(llama_server: str) -> None:
    with requests.Session() as s:
        ep = Endpoint(llama_server)
        assert detect_backend(s, ep) == "openai"
        assert OpenAIBackend().list_models(s, ep) == ["tiny"]


def test_openai_ladder_against_llama_cpp(llama_server: str) -> None:
    settings = ProbeSettings(concurrency=[1, 2], requests_per_level=3, prompt_tokens=64, max_tokens=12)
    report = run_probe(llama_server, "tiny", "auto", settings)
    assert report.backend == "openai" and report.status == "complete", report.errors
    assert report.all_ok, report.levels
    assert [lv.concurrency for lv in report.levels] == [1, 2]
    measured = [r for r in report.results if not r.warmup]
    assert len(measured) == 3 + 3 and len([r for r in report.results if r.warmup]) == 1
    for r in measured:
        # <=: the tiny model's 12 tokens can reach the client in one read, first and last chunk at the same instant
        assert r.ttft_s is not None and 0 < r.ttft_s <= r.e2e_s
        # llama-cpp-python streams no usage, so the count comes from the server's tokenizer; the tiny
        # model writes one token per character (tests/probe/tiny_model.py), so it cannot exceed max_tokens.
        assert r.output_tokens_source == "retokenized"
        assert 1 <= r.output_tokens <= 12
    level = report.levels[0].to_json()
    assert level["output_tokens_total"] == sum(r.output_tokens for r in measured if r.concurrency == 1)
    assert level["output_tokens_per_s"] > 0 and level["tpot_s"]["p50"] > 0
    assert level["ttft_s"]["p50"] <= level["ttft_s"]["p90"] <= level["ttft_s"]["p99"]


def test_recount_matches_the_servers_own_usage(llama_server: str) -> None:
    """The streamed request's recount equals usage.completion_tokens of the same greedy request unstreamed."""
    from probe.prompt import build_prompt

    prompt = build_prompt(40, seed=7)
    body = {"model": "tiny", "messages": [{"role": "user", "content": prompt}], "max_tokens": 10, "temperature": 0}
    usage = requests.post(llama_server + "/v1/chat/completions", json=body, timeout=60).json()["usage"]
    with requests.Session() as s:
        backend = OpenAIBackend()
        r = stream_once(backend, Endpoint(llama_server), "tiny", prompt, 10)
        assert r.ok, r.error_message
        n = backend.count_tokens(s, Endpoint(llama_server), "tiny", r.text)
    assert n == usage["completion_tokens"]


def test_cli_json_against_llama_cpp(llama_server: str) -> None:
    cmd = [sys.executable, "-m", "probe", "--url", llama_server, "--backend", "openai", "--model", "tiny",
           "--concurrency", "1,2", "--requests", "2", "--prompt-tokens", "32", "--max-tokens", "6", "--json"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["backend"] == "openai" and out["model"] == "tiny" and out["run_id"] is None
    assert [r["concurrency"] for r in out["runs"]] == [1, 2]
    for lv in out["runs"]:
        assert set(lv) >= {"concurrency", "requests", "ok", "errors", "ttft_s", "itl_s", "tpot_s", "e2e_s",
                           "output_tokens_per_s", "output_tokens_total", "server"}  # fmt: skip
        assert set(lv["ttft_s"]) == {"p50", "p90", "p99", "mean"}
        assert lv["ok"] == lv["requests"] == 2 and lv["errors"] == []


def test_ollama_protocol_server_with_llama_tokens(llama_ollama_server) -> None:  # type: ignore[no-untyped-def]
    settings = ProbeSettings(concurrency=[1, 2], requests_per_level=2, prompt_tokens=48, max_tokens=8)
    report = run_probe(llama_ollama_server.url, "tiny:latest", "auto", settings)
    assert report.backend == "ollama" and report.all_ok, (report.errors, report.levels)
    # The first request of the session loaded the model (LlamaSource loads lazily, as Ollama does).
    warm = next(r for r in report.results if r.warmup)
    assert warm.load_s is not None and warm.load_s > 0
    for r in report.results:
        assert r.output_tokens_source == "eval_count" and r.output_tokens == 8  # greedy never picks EOS here
        assert r.prompt_tokens and r.prompt_tokens > 20  # the model's own tokenizer count
    # Model facts from /api/show, as the test server reports the tiny model's shape.
    assert report.server["layers"] == N_LAYER and report.server["heads"] == N_HEAD
    assert report.server["kv_heads"] == N_HEAD_KV and report.server["embedding_length"] == N_EMBD
    assert report.server["context_length"] <= N_CTX_TRAIN
    bd = report.levels[0].to_json()["ttft_breakdown_s"]
    assert bd["prefill_mean"] > 0 and bd["ttft_mean"] >= bd["prefill_mean"]
