"""Every fault ends as an error on the request and in the run, never as an exception; measurements survive."""

from __future__ import annotations

import threading
import time

import pytest

from probe import results as R
from probe.clients import StopSignal
from probe.guard import AllowedHosts
from probe.runner import ProbeSettings, run_probe
from tests.probe.conftest import free_port
from tests.probe.servers import ScheduledSource

FAST = dict(requests_per_level=3, prompt_tokens=16, max_tokens=6, warmup_requests=0)


def one_level(**kw: object) -> ProbeSettings:
    return ProbeSettings(concurrency=[2], **{**FAST, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["ollama", "openai"])
def test_healthy_server_all_ok(fake_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(num_parallel=2)
    report = run_probe(srv.url, "tiny", backend, one_level())
    assert report.all_ok and report.status == "complete"
    lv = report.levels[0].to_json()
    assert lv["ok"] == 3 and lv["output_tokens_total"] == 18  # 3 requests x 6 tokens, as the server counted
    # The schedule: first token after 20 ms, then one every 5 ms (ScheduledSource defaults). Nothing can
    # arrive before its send time; the upper bounds leave room for a loaded CI machine.
    assert 0.02 <= lv["ttft_s"]["p50"] < 1.0
    assert 0.004 <= lv["itl_s"]["p50"] < 0.5


@pytest.mark.parametrize("backend", ["ollama", "openai"])
def test_401_without_key_and_ok_with_it_and_key_never_echoed(fake_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(api_key="sk-test-9876")
    bad = run_probe(srv.url, "tiny", backend, one_level(), api_key="sk-wrong-1111")
    errors = bad.levels[0].to_json()["errors"]
    assert [e["kind"] for e in errors] == ["http_401"] and errors[0]["count"] == 3
    assert "API key" in errors[0]["message"] and "sk-wrong-1111" not in str(bad.to_json())
    good = run_probe(srv.url, "tiny", backend, one_level(), api_key="sk-test-9876")
    assert good.all_ok and "sk-test-9876" not in str(good.to_json())


@pytest.mark.parametrize("backend", ["ollama", "openai"])
def test_404_unknown_model(fake_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server()
    report = run_probe(srv.url, "missing-model", backend, one_level())
    err = report.levels[0].to_json()["errors"][0]
    assert err["kind"] == "http_404" and "missing-model" in err["message"]


def test_404_at_warmup_stops_the_ladder(fake_server) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server()
    report = run_probe(srv.url, "missing-model", "ollama", one_level(warmup_requests=1))
    assert report.status == "failed" and report.levels == []
    assert report.errors[0]["kind"] == "http_404" and "warm-up failed" in report.errors[0]["message"]
    assert len([b for b in srv.requests_seen if "messages" in b]) == 1  # not 1 + 3 identical failures


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("500", "http_500"),
        ("nonjson", R.BAD_STREAM),
        ("die", R.INCOMPLETE),
        ("no_done", R.INCOMPLETE),
        ("error", R.SERVER_ERROR),
    ],
)
@pytest.mark.parametrize("backend", ["ollama", "openai"])
def test_stream_faults(fake_server, backend: str, fault: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(fault=fault, fault_after_tokens=2, num_parallel=2)
    report = run_probe(srv.url, "tiny", backend, one_level())
    assert report.status == "complete" and not report.all_ok
    lv = report.levels[0].to_json()
    assert lv["ok"] == 0 and [e["kind"] for e in lv["errors"]] == [kind] and lv["errors"][0]["count"] == 3
    measured = [r for r in report.results if not r.warmup]
    if fault != "500":
        # Tokens that arrived before the fault (2; all 6 for no_done) keep their TTFT and gaps.
        gaps = 5 if fault == "no_done" else 1
        for r in measured:
            assert r.ttft_s is not None and len(r.itl_s) == gaps


@pytest.mark.parametrize("backend", ["ollama", "openai"])
def test_stall_past_read_timeout(fake_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(fault="stall", stall_s=4.0, num_parallel=2)
    t = time.monotonic()
    report = run_probe(srv.url, "tiny", backend, one_level(read_timeout_s=0.3, requests_per_level=2))
    assert time.monotonic() - t < 3.5  # the 0.3 s read timeout fired, not the server's 4 s stall
    lv = report.levels[0].to_json()
    assert [e["kind"] for e in lv["errors"]] == [R.STALL]
    assert all(r.ttft_s is not None for r in report.results)


def test_refused_connection_closed_port() -> None:
    report = run_probe(f"http://127.0.0.1:{free_port()}", "tiny", "openai", one_level())
    lv = report.levels[0].to_json()
    assert [e["kind"] for e in lv["errors"]] == [R.REFUSED] and lv["ok"] == 0


def test_refused_during_detection_is_a_run_error() -> None:
    report = run_probe(f"http://127.0.0.1:{free_port()}", "tiny", "auto", one_level())
    assert report.status == "failed" and report.errors[0]["kind"] == R.REFUSED


def test_dns_failure_on_an_allowed_name() -> None:
    # RFC 2606 reserves .invalid: it never resolves.
    allowed = AllowedHosts.from_env("no-such-host.invalid")
    report = run_probe("http://no-such-host.invalid:11434", "tiny", "ollama", one_level(), allowed=allowed)
    assert report.status == "failed" and report.errors[0]["kind"] == R.DNS


def test_dns_failure_per_request_when_any_host_is_allowed() -> None:
    report = run_probe("http://no-such-host.invalid", "tiny", "ollama", one_level(), allowed=AllowedHosts.from_env("*"))
    assert [e["kind"] for e in report.levels[0].to_json()["errors"]] == [R.DNS]


def test_cancel_mid_stream_keeps_measurements(fake_server) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(source=ScheduledSource(first_delay_s=0.01, gap_s=0.05), num_parallel=4)
    stop = StopSignal()
    threading.Timer(0.4, stop.stop).start()
    t = time.monotonic()
    settings = ProbeSettings(concurrency=[2, 4], requests_per_level=4, max_tokens=200, warmup_requests=0)
    report = run_probe(srv.url, "tiny", "ollama", settings, stop=stop)
    assert time.monotonic() - t < 2.0  # 200 tokens x 50 ms would take 10 s per request
    assert report.status == R.CANCELLED
    cut = [r for r in report.results if r.error_kind == R.CANCELLED]
    assert len(cut) == 2 and all(r.ttft_s is not None and len(r.itl_s) >= 1 for r in cut)  # kept, not lost
    assert [lv.concurrency for lv in report.levels] == [2]  # the second level never started


def test_cancel_wakes_a_request_queued_for_a_slot(fake_server) -> None:  # type: ignore[no-untyped-def]
    # One slot: the second request waits for headers (as in Ollama's queue) and must still stop at once.
    srv = fake_server(source=ScheduledSource(first_delay_s=0.01, gap_s=0.05), num_parallel=1)
    stop = StopSignal()
    threading.Timer(0.4, stop.stop).start()
    t = time.monotonic()
    settings = ProbeSettings(concurrency=[2], requests_per_level=2, max_tokens=200, warmup_requests=0)
    report = run_probe(srv.url, "tiny", "ollama", settings, stop=stop)
    assert time.monotonic() - t < 2.0
    kinds = sorted((r.error_kind, r.ttft_s is None) for r in report.results)
    assert kinds == [(R.CANCELLED, False), (R.CANCELLED, True)]  # one mid-stream, one still queued


def test_total_deadline(fake_server) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(source=ScheduledSource(first_delay_s=0.01, gap_s=0.05), num_parallel=2)
    settings = ProbeSettings(concurrency=[2], requests_per_level=2, max_tokens=200, warmup_requests=0, deadline_s=0.3)
    report = run_probe(srv.url, "tiny", "openai", settings)
    assert report.status == R.DEADLINE
    assert [e["kind"] for e in report.levels[0].to_json()["errors"]] == [R.DEADLINE]


def test_a_failing_result_callback_does_not_lose_the_run(fake_server) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(num_parallel=2)

    def broken(_r: object) -> None:
        raise OSError("disk full")

    report = run_probe(srv.url, "tiny", "ollama", one_level(), on_result=broken)
    assert report.levels[0].to_json()["ok"] == 3
    assert report.errors == [{"kind": "store_error", "message": "could not store a sample: OSError: disk full"}]


def test_unchunked_stream_is_timed_as_it_arrives() -> None:
    """A server that streams without chunked encoding (HTTP/1.0 style, closes at the end) is read per socket read."""
    import json
    import socket

    lines = [{"message": {"content": w}, "done": False} for w in ("a", "b", "c")]
    lines.append({"message": {"content": ""}, "done": True, "eval_count": 3, "prompt_eval_count": 2})
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n")
        for obj in lines:
            time.sleep(0.1)
            conn.sendall(json.dumps(obj).encode() + b"\n")
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    import asyncio

    from probe.aio import new_session, prepare_request, stream
    from probe.clients import Endpoint, OllamaBackend
    from probe.results import RequestResult

    async def one() -> RequestResult:
        ep, backend = Endpoint(f"http://127.0.0.1:{srv.getsockname()[1]}"), OllamaBackend()
        async with new_session(ep) as session:
            return await stream(session, backend, ep, prepare_request(backend, ep, "m", "hi", 3, 0.0), RequestResult())

    r = asyncio.run(one())
    srv.close()
    assert r.ok and r.output_tokens == 3
    # Gaps of ~100 ms prove each line was timed on arrival, not when the connection closed.
    assert len(r.itl_s) == 2 and all(0.08 < g < 1.0 for g in r.itl_s)
