"""Streaming clients for Ollama's native API and OpenAI-compatible servers, and backend detection.

Protocols: Ollama https://docs.ollama.com/api (ollama/ollama docs/api.md: /api/chat NDJSON, durations in ns);
OpenAI-compatible /v1/chat/completions SSE with stream_options.include_usage (as vLLM, llama.cpp, SGLang serve it).
Metric definitions follow vLLM bench serve (vllm/benchmarks/lib/endpoint_request_func.py).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
import requests.adapters
import urllib3
import urllib3.connection

from probe import results as R
from probe.guard import scrub
from probe.results import RequestResult, ns_to_s

USER_AGENT = "llm-capacity-probe/1"


@dataclass
class Endpoint:
    """Where to send requests; the API key is kept out of repr, URLs and messages."""

    base_url: str  # normalized by guard.normalize_base_url
    api_key: str | None = field(default=None, repr=False)
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0  # longest silence tolerated inside a stream

    def headers(self) -> dict[str, str]:
        """Request headers; identity encoding so no decompressor buffers the stream."""
        h = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) timeouts for requests."""
        return (self.connect_timeout_s, self.read_timeout_s)


class ProbeError(Exception):
    """A failed metadata call (detection, model list): kind + message, safe to show."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class StopSignal:
    """Cancellation shared by a run: sets an event and shuts every socket the run opened.

    Shutting the socket is what wakes a thread blocked in recv(): a request queued behind the server's
    parallel slots (Ollama sends no headers until its turn) or a stream waiting for its next token.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = R.CANCELLED
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listeners: list[Callable[[str], None]] = []

    def add_listener(self, fn: Callable[[str], None]) -> None:
        """Call fn(reason) when the run is stopped (at once if it already is): how async workers hear of it."""
        with self._lock:
            self._listeners.append(fn)
            stopped = self.event.is_set()
        if stopped:
            fn(self.reason)

    def is_set(self) -> bool:
        """Whether the run was stopped."""
        return self.event.is_set()

    def stop(self, reason: str = R.CANCELLED) -> None:
        """Stop the run: no new requests, and every open connection is cut so blocked reads return now."""
        with self._lock:
            if not self.event.is_set():
                self.reason = reason
            self.event.set()
            sockets = list(self._sockets)
            listeners = list(self._listeners)
        for sock in sockets:
            _shutdown(sock)
        for fn in listeners:
            with contextlib.suppress(Exception):  # one broken listener must not keep the others running
                fn(self.reason)

    def track(self, sock: socket.socket) -> None:
        """Remember a socket this run connected (shut at once if the run is already stopped)."""
        with self._lock:
            self._sockets = [s for s in self._sockets if s.fileno() != -1]  # forget closed ones
            self._sockets.append(sock)
            stopped = self.event.is_set()
        if stopped:
            _shutdown(sock)

    def session(self) -> requests.Session:
        """A requests session whose connections this signal can cut."""
        s = requests.Session()
        s.trust_env = False  # no proxy from the environment between the probe and the server
        adapter = requests.adapters.HTTPAdapter()
        adapter.poolmanager.pool_classes_by_scheme = _tracking_pools(self)
        s.mount("http://", adapter)
        s.mount("https://", adapter)
        return s


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: nothing left to wake
        sock.shutdown(socket.SHUT_RDWR)


def _tracking_pools(stop: StopSignal) -> dict[str, type]:
    """urllib3 pool classes whose connections report their socket to `stop` once connected."""

    class Conn(urllib3.connection.HTTPConnection):
        def connect(self) -> None:
            super().connect()
            stop.track(self.sock)

    class SConn(urllib3.connection.HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            stop.track(self.sock)

    class Pool(urllib3.HTTPConnectionPool):
        ConnectionCls = Conn

    class SPool(urllib3.HTTPSConnectionPool):
        ConnectionCls = SConn

    return {"http": Pool, "https": SPool}


# ---------------------------------------------------------------------------------------------
# Error classification


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes/contexts and the reasons urllib3 wraps inside them."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack.extend([e.__cause__, e.__context__, getattr(e, "reason", None)])  # type: ignore[list-item]
        stack.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))


def classify_exception(exc: BaseException) -> tuple[str, str]:
    """Map a requests/urllib3/socket exception to (error kind, short message)."""
    chain = list(_chain(exc))
    if any(isinstance(e, urllib3.exceptions.NameResolutionError | socket.gaierror) for e in chain):
        return R.DNS, "the host name did not resolve (DNS failure)"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return R.REFUSED, "connection refused: nothing is listening at that address and port"
    if isinstance(exc, requests.exceptions.ConnectTimeout) or any(
        isinstance(e, urllib3.exceptions.ConnectTimeoutError) for e in chain
    ):
        return R.CONNECT_TIMEOUT, "connecting timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout) or any(
        isinstance(e, urllib3.exceptions.ReadTimeoutError | TimeoutError | socket.timeout) for e in chain
    ):
        return R.STALL, "the server sent nothing for longer than the read timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError) or any(
        isinstance(e, urllib3.exceptions.ProtocolError | urllib3.exceptions.IncompleteRead) for e in chain
    ):
        return R.INCOMPLETE, "the connection closed before the response was complete"
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return R.BAD_INPUT, "invalid URL"
    return R.CONNECTION, f"connection error ({type(exc).__name__})"


def http_error(status: int, reason: str | None, body: str, api_key: str | None) -> tuple[str, str]:
    """Kind and message for a non-2xx response, with the server's own error text when short."""
    body = scrub(body, api_key)[:4096]  # scrub before any cut, so a key straddling the cut cannot leak in part
    try:
        obj = json.loads(body)
    except ValueError:
        obj = None
    detail = body
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict):
            err = err.get("message")
        detail = str(err or obj.get("detail") or obj.get("message") or "")
    hint = {401: " (missing or wrong API key)", 403: " (forbidden)", 404: " (wrong path or unknown model)"}
    msg = f"HTTP {status} {reason or ''}{hint.get(status, '')}".strip()
    if detail.strip():
        msg += f": {' '.join(detail.split())[:200]}"
    return f"{R.HTTP}{status}", scrub(msg, api_key)


def _http_error(resp: requests.Response, api_key: str | None) -> tuple[str, str]:
    """http_error for a requests response (metadata calls)."""
    try:
        body = resp.text
    except (requests.exceptions.RequestException, OSError):  # a body we cannot read still leaves the status code
        body = ""
    return http_error(resp.status_code, resp.reason, body, api_key)


class Timing:
    """Accumulates TTFT and inter-message gaps for one request."""

    def __init__(self, result: RequestResult, t0: float) -> None:
        self.r = result
        self.t0 = t0
        self.clock: Callable[[], float] = time.perf_counter
        self.last: float | None = None
        self.parts: list[str] = []  # joined once at the end; += on a long text would be quadratic

    def content(self, t: float, text: str = "") -> None:
        """A message with generated text arrived at t."""
        r = self.r
        self.parts.append(text)
        if r.ttft_s is None:
            r.ttft_s = t - self.t0
        elif self.last is not None:
            r.itl_s.append(t - self.last)
        self.last = t
        r.content_messages += 1

    def end(self, t: float) -> None:
        """The final message arrived at t."""
        self.r.e2e_s = t - self.t0


# A handler gets (parsed JSON, arrival time) and returns True when the protocol's last message came.
Handler = Callable[[Any, float], bool]


# ---------------------------------------------------------------------------------------------
# Backends


def _get_json(session: requests.Session, ep: Endpoint, path: str, method: str = "GET", body: Any = None) -> Any:
    """GET/POST a small JSON document; ProbeError on any fault."""
    try:
        resp = session.request(method, ep.base_url + path, json=body, headers=ep.headers(), timeout=ep.timeout)
    except requests.exceptions.RequestException as e:
        raise ProbeError(*classify_exception(e)) from None
    if resp.status_code >= 400:
        raise ProbeError(*_http_error(resp, ep.api_key))
    try:
        return resp.json()
    except ValueError:
        raise ProbeError(R.BAD_STREAM, f"{path} did not return JSON") from None


class OllamaBackend:
    """Ollama's native API: /api/chat (NDJSON), /api/tags, /api/ps, /api/show."""

    name = "ollama"
    chat_path = "/api/chat"
    warm_path = "/api/version"  # the smallest answer: opens a keep-alive connection before timing
    sse = False  # NDJSON: one JSON object per line

    def detect(self, session: requests.Session, ep: Endpoint) -> bool:
        """Whether the server answers /api/tags the way Ollama does."""
        try:
            obj = _get_json(session, ep, "/api/tags")
        except ProbeError:
            return False
        return isinstance(obj, dict) and isinstance(obj.get("models"), list)

    def list_models(self, session: requests.Session, ep: Endpoint) -> list[str]:
        """Model names the server has pulled."""
        obj = _get_json(session, ep, "/api/tags")
        models = obj.get("models") if isinstance(obj, dict) else None
        if not isinstance(models, list):
            raise ProbeError(R.BAD_STREAM, "/api/tags did not list models")
        return sorted(str(m.get("name") or m.get("model")) for m in models if isinstance(m, dict))

    def server_facts(self, session: requests.Session, ep: Endpoint, model: str) -> dict[str, Any]:
        """Model facts from /api/show and /api/ps; missing pieces are left out, never guessed."""
        facts: dict[str, Any] = {"backend": "ollama"}
        with contextlib.suppress(ProbeError, AttributeError):  # older servers lack /api/version
            facts["version"] = _get_json(session, ep, "/api/version").get("version")
        try:
            facts.update(parse_ollama_show(_get_json(session, ep, "/api/show", "POST", {"model": model})))
        except ProbeError as e:
            facts["show_error"] = e.message
        facts.update(self.loaded(session, ep, model))
        return facts

    def loaded(self, session: requests.Session, ep: Endpoint, model: str) -> dict[str, Any]:
        """The /api/ps entry for the model: bytes in memory and in VRAM, context length."""
        try:
            ps = _get_json(session, ep, "/api/ps")
        except ProbeError:
            return {}
        for m in ps.get("models", []) if isinstance(ps, dict) else []:
            if isinstance(m, dict) and model in (m.get("name"), m.get("model")):
                out = {"loaded_size_bytes": m.get("size"), "size_vram_bytes": m.get("size_vram")}
                if m.get("context_length") is not None:
                    out["loaded_context_length"] = m.get("context_length")
                return {k: v for k, v in out.items() if v is not None}
        return {}

    def request_body(self, model: str, prompt: str, max_tokens: int, temperature: float) -> dict[str, Any]:
        """The /api/chat body; num_predict caps the output (docs.ollama.com/api, options)."""
        return {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "stream": True,
            "options": {"num_predict": max_tokens, "temperature": temperature},
        }

    def make_handler(self, result: RequestResult, timing: Timing, ep: Endpoint) -> Handler:
        """The per-request message handler: feeds text to `timing`, server counts to `result`."""

        def handle(obj: Any, t: float) -> bool:
            if not isinstance(obj, dict):
                result.fail(R.BAD_STREAM, "a stream line is JSON but not an object")
                return True
            if obj.get("error"):
                _server_error(result, obj["error"], ep)
                return True
            msg = obj.get("message") if isinstance(obj.get("message"), dict) else {}
            text = msg.get("content") or msg.get("thinking") or obj.get("response")
            if text:
                timing.content(t, str(text))
            if obj.get("done"):
                timing.end(t)
                ec, pc = obj.get("eval_count"), obj.get("prompt_eval_count")
                result.output_tokens = ec if isinstance(ec, int) else None
                result.output_tokens_source = "eval_count" if isinstance(ec, int) else None
                result.prompt_tokens = pc if isinstance(pc, int) else None
                result.load_s = ns_to_s(obj.get("load_duration"))
                result.prompt_eval_s = ns_to_s(obj.get("prompt_eval_duration"))
                result.eval_s = ns_to_s(obj.get("eval_duration"))
                result.total_s = ns_to_s(obj.get("total_duration"))
                return True
            return False

        return handle


def _server_error(result: RequestResult, error: Any, ep: Endpoint) -> None:
    """Record an error the server sent inside the stream (a string, or OpenAI's {"message": ...}); key scrubbed
    before the message is cut, so no part of it can survive the cut."""
    text = error.get("message") if isinstance(error, dict) else error
    result.fail(R.SERVER_ERROR, scrub(f"server error: {text}", ep.api_key)[:300])


def parse_ollama_show(obj: Any) -> dict[str, Any]:
    """The architecture facts in an /api/show answer (model_info keys are '<arch>.<name>')."""
    if not isinstance(obj, dict):
        return {}
    info = obj.get("model_info") if isinstance(obj.get("model_info"), dict) else {}
    details = obj.get("details") if isinstance(obj.get("details"), dict) else {}
    arch = info.get("general.architecture")
    out: dict[str, Any] = {
        "architecture": arch,
        "parameter_count": info.get("general.parameter_count"),
        "parameter_size": details.get("parameter_size"),
        "quantization": details.get("quantization_level"),
        "family": details.get("family"),
        "format": details.get("format"),
    }
    if arch:
        for key, name in (
            ("block_count", "layers"),
            ("context_length", "context_length"),
            ("embedding_length", "embedding_length"),
            ("attention.head_count", "heads"),
            ("attention.head_count_kv", "kv_heads"),
            ("attention.sliding_window", "sliding_window"),
        ):
            if f"{arch}.{key}" in info:
                out[name] = info[f"{arch}.{key}"]
    return {k: v for k, v in out.items() if v is not None}


# vLLM Prometheus gauges worth showing next to a run (docs.vllm.ai, "Production Metrics").
VLLM_METRICS = (
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:gpu_cache_usage_perc",
    "vllm:num_preemptions_total",
)


def parse_prometheus(text: str, names: tuple[str, ...] = VLLM_METRICS) -> dict[str, float]:
    """Sum the samples of the named metrics across labels from Prometheus text format."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name not in names:
            continue
        try:
            value = float(line.rsplit(" ", 1)[-1])
        except ValueError:
            continue
        out[name] = out.get(name, 0.0) + value
    return out


def parse_llamacpp_props(obj: Any) -> dict[str, Any]:
    """llama.cpp server's GET /props (tools/server/README.md): parallel slots and context per slot."""
    if not isinstance(obj, dict) or not isinstance(obj.get("total_slots"), int):
        return {}
    out: dict[str, Any] = {"engine": "llama.cpp", "parallel_slots": obj["total_slots"]}
    gen = obj.get("default_generation_settings")
    if isinstance(gen, dict) and isinstance(gen.get("n_ctx"), int):
        out["slot_context_length"] = gen["n_ctx"]
    return out


class OpenAIBackend:
    """OpenAI-compatible servers (vLLM, llama.cpp, SGLang, LM Studio): /v1/chat/completions SSE."""

    name = "openai"
    chat_path = "/v1/chat/completions"
    warm_path = "/v1/models"
    sse = True

    def __init__(self) -> None:
        self._tokenize_path: str | None = None  # which recount endpoint worked, once found

    def detect(self, session: requests.Session, ep: Endpoint) -> bool:
        """Whether /v1/models answers like an OpenAI-compatible server (401 counts: it needs a key)."""
        try:
            obj = _get_json(session, ep, "/v1/models")
        except ProbeError as e:
            return e.kind == f"{R.HTTP}401"
        return isinstance(obj, dict) and isinstance(obj.get("data"), list)

    def list_models(self, session: requests.Session, ep: Endpoint) -> list[str]:
        """Model ids from /v1/models."""
        return sorted(str(m.get("id")) for m in self._models(session, ep))

    def _models(self, session: requests.Session, ep: Endpoint) -> list[dict[str, Any]]:
        obj = _get_json(session, ep, "/v1/models")
        data = obj.get("data") if isinstance(obj, dict) else None
        if not isinstance(data, list):
            raise ProbeError(R.BAD_STREAM, "/v1/models did not list models")
        return [m for m in data if isinstance(m, dict)]

    def server_facts(self, session: requests.Session, ep: Endpoint, model: str) -> dict[str, Any]:
        """max_model_len from /v1/models (vLLM) and vLLM's /metrics gauges when served."""
        facts: dict[str, Any] = {"backend": "openai"}
        try:
            for m in self._models(session, ep):
                if m.get("id") == model:
                    for key in ("max_model_len", "owned_by", "root"):
                        if m.get(key) is not None:
                            facts[key] = m[key]
        except ProbeError as e:
            facts["models_error"] = e.message
        metrics = self.metrics(session, ep)
        if metrics:
            facts["engine"] = "vllm"
            facts["metrics"] = metrics
        with contextlib.suppress(ProbeError):  # only llama.cpp's own server has /props
            facts.update(parse_llamacpp_props(_get_json(session, ep, "/props")))
        return facts

    def metrics(self, session: requests.Session, ep: Endpoint) -> dict[str, float]:
        """vLLM gauges from /metrics; empty when the server has none."""
        try:
            resp = session.get(ep.base_url + "/metrics", headers=ep.headers(), timeout=ep.timeout)
        except requests.exceptions.RequestException:
            return {}
        if resp.status_code != 200:
            return {}
        return parse_prometheus(resp.text)

    def count_tokens(self, session: requests.Session, ep: Endpoint, model: str, text: str) -> int | None:
        """The server's own token count of a text, for servers that stream no usage; None if it offers none.

        llama-cpp-python: POST /extras/tokenize/count {"input"} -> {"count"}; it adds BOS and SentencePiece's
        dummy-prefix space, so the overhead is measured on the one-character text "a" and subtracted; vLLM: POST /tokenize {"model", "prompt", "add_special_tokens": false} -> {"count"}.
        """
        for path in [self._tokenize_path] if self._tokenize_path else ["/extras/tokenize/count", "/tokenize"]:
            try:
                if path == "/extras/tokenize/count":
                    n = _get_json(session, ep, path, "POST", {"input": text}).get("count")
                    one = _get_json(session, ep, path, "POST", {"input": "a"}).get("count")
                    count = n - (one - 1) if isinstance(n, int) and isinstance(one, int) else None
                else:
                    body = {"model": model, "prompt": text, "add_special_tokens": False}
                    count = _get_json(session, ep, path, "POST", body).get("count")
            except (ProbeError, AttributeError):
                continue
            if isinstance(count, int) and count >= 0:
                self._tokenize_path = path
                return count
        return None

    def request_body(self, model: str, prompt: str, max_tokens: int, temperature: float) -> dict[str, Any]:
        """The chat body; include_usage makes the server send its token counts in a final chunk."""
        return {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    def make_handler(self, result: RequestResult, timing: Timing, ep: Endpoint) -> Handler:
        """The per-request message handler: feeds text to `timing`, server counts to `result`."""

        def handle(obj: Any, t: float) -> bool:
            if not isinstance(obj, dict):
                result.fail(R.BAD_STREAM, "an SSE event is JSON but not an object")
                return True
            if obj.get("error"):
                _server_error(result, obj["error"], ep)
                return True
            for choice in obj.get("choices") or []:
                if not isinstance(choice, dict):
                    continue
                delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
                text = (
                    delta.get("content")
                    or delta.get("reasoning_content")
                    or delta.get("reasoning")
                    or choice.get("text")
                )
                if text:
                    timing.content(t, str(text))
                if choice.get("finish_reason"):
                    handle.finished = True  # type: ignore[attr-defined]
            usage = obj.get("usage")
            if isinstance(usage, dict):
                ct, pt = usage.get("completion_tokens"), usage.get("prompt_tokens")
                if isinstance(ct, int):
                    result.output_tokens, result.output_tokens_source = ct, "usage"
                result.prompt_tokens = pt if isinstance(pt, int) else result.prompt_tokens
            return False

        handle.finished = False  # type: ignore[attr-defined]
        return handle


Backend = OllamaBackend | OpenAIBackend
BACKENDS: dict[str, Callable[[], Backend]] = {"ollama": OllamaBackend, "openai": OpenAIBackend}


def get_backend(name: str) -> Backend:
    """A backend by name."""
    try:
        return BACKENDS[name]()
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)} or auto") from None


def detect_backend(session: requests.Session, ep: Endpoint) -> str:
    """'ollama' or 'openai' for a URL; Ollama first, because it also serves /v1/models."""
    if OllamaBackend().detect(session, ep):
        return "ollama"
    if OpenAIBackend().detect(session, ep):
        return "openai"
    # Tell a dead endpoint apart from one that answers in an unknown way.
    try:
        session.get(ep.base_url + "/", headers=ep.headers(), timeout=ep.timeout)
    except requests.exceptions.RequestException as e:
        raise ProbeError(*classify_exception(e)) from None
    raise ProbeError(R.BAD_INPUT, "the server answers neither Ollama's /api/tags nor OpenAI's /v1/models")
