"""An Ollama-protocol test server (plus OpenAI SSE routes) with switchable faults.

Follows docs.ollama.com/api (ollama/ollama docs/api.md): /api/chat streams one JSON object per line and
the last one has done=true with eval_count, prompt_eval_count and *_duration fields in nanoseconds.
Tokens come either from a fixed schedule or from a real llama.cpp model through llama_cpp.Llama.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORDS = ["alpha", " beta", " gamma", " delta", " é", "😀", " zeta", " eta"]  # multi-byte ones on purpose


class ScheduledSource:
    """Emits words on a fixed schedule; a slot semaphore imitates OLLAMA_NUM_PARALLEL queueing."""

    def __init__(self, first_delay_s: float = 0.02, gap_s: float = 0.005, load_s: float = 0.0) -> None:
        self.first_delay_s = first_delay_s
        self.gap_s = gap_s
        self.load_s = load_s  # simulated cold load paid by the first request
        self._loaded = False
        self._lock = threading.Lock()

    def load(self) -> float:
        """Seconds spent loading for this request (only the first one pays)."""
        with self._lock:
            if self._loaded:
                return 0.0
            time.sleep(self.load_s)
            self._loaded = True
            return self.load_s

    def prompt_tokens(self, prompt: str) -> int:
        """Whitespace words, a stand-in for a tokenizer."""
        return len(prompt.split())

    def generate(self, prompt: str, max_tokens: int) -> Iterator[str]:
        """Yield max_tokens pieces on schedule."""
        time.sleep(self.first_delay_s)
        for i in range(max_tokens):
            if i:
                time.sleep(self.gap_s)
            yield WORDS[i % len(WORDS)]


class LlamaSource:
    """Real tokens from llama.cpp (llama_cpp.Llama), loaded lazily like Ollama loads on first use."""

    def __init__(self, model_path: str, n_ctx: int = 512) -> None:
        self.model_path = model_path
        self.n_ctx = n_ctx
        self._llm: Any = None
        self._lock = threading.Lock()

    def load(self) -> float:
        """Load the model on first use; returns the seconds it took (0 when already loaded)."""
        with self._lock:
            if self._llm is not None:
                return 0.0
            import llama_cpp

            t = time.perf_counter()
            self._llm = llama_cpp.Llama(model_path=self.model_path, n_ctx=self.n_ctx, verbose=False, seed=0)
            return time.perf_counter() - t

    def prompt_tokens(self, prompt: str) -> int:
        """The model's own token count."""
        return len(self._llm.tokenize(prompt.encode("utf-8")))

    def generate(self, prompt: str, max_tokens: int) -> Iterator[str]:
        """Greedy tokens from the model."""
        for chunk in self._llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, stream=True):
            choice = chunk["choices"][0]
            if choice["finish_reason"] is not None and not choice["text"]:
                return  # the closing chunk carries no token
            yield choice["text"]


@dataclass
class ServerConfig:
    """Behaviour switches a test sets before sending requests."""

    models: list[str] = field(default_factory=lambda: ["tiny"])
    api_key: str | None = None  # when set, requests without 'Bearer <key>' get 401
    fault: str | None = None  # 500 | nonjson | die | stall | error | no_done
    fault_after_tokens: int = 2
    stall_s: float = 3.0
    num_parallel: int = 1  # OLLAMA_NUM_PARALLEL
    openai_routes: bool = True


class ProtocolServer(ThreadingHTTPServer):
    """Threaded HTTP/1.1 server; one thread per connection, like Ollama's Go server."""

    daemon_threads = True
    request_queue_size = 256  # listen backlog for 64+ simultaneous connects

    def __init__(self, source: Any, config: ServerConfig | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.source = source
        self.config = config or ServerConfig()
        self.slots = threading.Semaphore(self.config.num_parallel)
        self.requests_seen: list[dict[str, Any]] = []
        self.chat_arrivals_s: list[float] = []  # perf_counter when each chat request was read, before any queueing
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> ProtocolServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (the probe cancelling, timing out) are expected here; stay quiet."""

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as Ollama (Go's net/http) and uvicorn (vLLM, llama-cpp-python) set it: without it Nagle holds
    # each small token write until the client's delayed ACK (tens of ms), and tokens arrive in clumps.
    disable_nagle_algorithm = True
    server: ProtocolServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output clean
        pass

    # -- helpers
    def _json(self, status: int, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _die(self) -> None:
        """Drop the connection without finishing the chunked body."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _authorized(self) -> bool:
        key = self.server.config.api_key
        if key and self.headers.get("Authorization") != f"Bearer {key}":
            self._json(401, {"error": "unauthorized"})
            return False
        return True

    def _body(self) -> dict[str, Any]:
        n = int(self.headers.get("Content-Length") or 0)
        try:
            obj = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            obj = {}
        if isinstance(obj, dict) and "messages" in obj:
            self.server.chat_arrivals_s.append(time.perf_counter())
        self.server.requests_seen.append(obj)
        return obj if isinstance(obj, dict) else {}

    # -- routes
    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if not self._authorized():
            return
        cfg = self.server.config
        if self.path == "/api/version":
            self._json(200, {"version": "0.0.0-test"})
        elif self.path == "/api/tags":
            self._json(200, {"models": [{"name": m, "model": m, "size": 1000} for m in cfg.models]})
        elif self.path == "/api/ps":
            self._json(
                200, {"models": [{"name": cfg.models[0], "model": cfg.models[0], "size": 2000, "size_vram": 1500}]}
            )
        elif self.path == "/v1/models" and cfg.openai_routes:
            self._json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in cfg.models]})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        body = self._body()
        if not self._authorized():
            return
        cfg = self.server.config
        if self.path == "/api/show":
            if body.get("model") not in cfg.models:
                self._json(404, {"error": f"model '{body.get('model')}' not found"})
                return
            self._json(
                200,
                {
                    "details": {
                        "family": "llama",
                        "parameter_size": "0.1M",
                        "quantization_level": "F32",
                        "format": "gguf",
                    },
                    "model_info": {
                        "general.architecture": "llama",
                        "general.parameter_count": 100000,
                        "llama.block_count": 2,
                        "llama.context_length": 512,
                        "llama.embedding_length": 64,
                        "llama.attention.head_count": 4,
                        "llama.attention.head_count_kv": 2,
                    },
                },
            )
        elif self.path == "/api/chat":
            self._chat(body, openai=False)
        elif self.path == "/v1/chat/completions" and cfg.openai_routes:
            self._chat(body, openai=True)
        else:
            self._json(404, {"error": "not found"})

    def _chat(self, body: dict[str, Any], openai: bool) -> None:
        cfg = self.server.config
        model = body.get("model")
        if model not in cfg.models:
            msg = f"model '{model}' not found"
            self._json(404, {"error": {"message": msg}} if openai else {"error": msg})
            return
        if cfg.fault == "500":
            self._json(500, {"error": "simulated failure"})
            return
        messages = body.get("messages") or [{}]
        prompt = "user: " + str(messages[-1].get("content", "")) + "\nassistant:"
        if openai:
            max_tokens = int(body.get("max_tokens") or 16)
        else:
            max_tokens = int((body.get("options") or {}).get("num_predict") or 16)
        t_start = time.perf_counter_ns()
        with self.server.slots:  # requests beyond num_parallel wait here, as in Ollama's scheduler
            load_ns = int(self.server.source.load() * 1e9)
            n_prompt = self.server.source.prompt_tokens(prompt)
            self._start_chunked("text/event-stream" if openai else "application/x-ndjson")
            t_gen = time.perf_counter_ns()
            t_first = None
            n = 0
            for text in self.server.source.generate(prompt, max_tokens):
                n += 1
                if t_first is None:
                    t_first = time.perf_counter_ns()
                if cfg.fault and n > cfg.fault_after_tokens and self._fault(cfg, openai):
                    return
                if not text:
                    continue  # a partial UTF-8 byte: the server holds it back, as Ollama does
                if openai:
                    ev = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]}
                    self._chunk(b"data: " + json.dumps(ev).encode() + b"\n\n")
                else:
                    ev = {"model": model, "message": {"role": "assistant", "content": text}, "done": False}
                    self._chunk(json.dumps(ev).encode() + b"\n")
            t_end = time.perf_counter_ns()
            if cfg.fault == "no_done":
                self._end_chunked()
                return
            prompt_eval_ns = (t_first or t_end) - t_gen
            if openai:
                fin = {
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
                }
                usage = {
                    "choices": [],
                    "usage": {"prompt_tokens": n_prompt, "completion_tokens": n, "total_tokens": n_prompt + n},
                }
                self._chunk(b"data: " + json.dumps(fin).encode() + b"\n\n")
                if (body.get("stream_options") or {}).get("include_usage"):
                    self._chunk(b"data: " + json.dumps(usage).encode() + b"\n\n")
                self._chunk(b"data: [DONE]\n\n")
            else:
                done = {
                    "model": model,
                    "message": {"role": "assistant", "content": ""},
                    "done": True,
                    "done_reason": "length" if n >= max_tokens else "stop",
                    "total_duration": t_end - t_start,
                    "load_duration": load_ns,
                    "prompt_eval_count": n_prompt,
                    "prompt_eval_duration": prompt_eval_ns,
                    "eval_count": n,
                    "eval_duration": t_end - (t_first or t_end),
                }
                self._chunk(json.dumps(done).encode() + b"\n")
            self._end_chunked()

    def _fault(self, cfg: ServerConfig, openai: bool) -> bool:
        """Inject the configured mid-stream fault; True when the response is over."""
        if cfg.fault == "nonjson":
            self._chunk(b"<html>proxy error</html>\n" if not openai else b"data: <html>proxy error</html>\n\n")
            self._end_chunked()
            return True
        if cfg.fault == "die":
            self._die()
            return True
        if cfg.fault == "stall":
            time.sleep(cfg.stall_s)
            self._die()
            return True
        if cfg.fault == "error":
            err = {"error": {"message": "out of memory"}} if openai else {"error": "out of memory"}
            self._chunk((b"data: " if openai else b"") + json.dumps(err).encode() + (b"\n\n" if openai else b"\n"))
            self._end_chunked()
            return True
        return False
