"""Per-request measurement record and the error kinds a request can end with."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Error kinds, stable strings (stored in the database and printed by the CLI).
REFUSED = "connection_refused"
DNS = "dns_failure"
CONNECT_TIMEOUT = "connect_timeout"
CONNECTION = "connection_error"
STALL = "stall"  # no byte for longer than the read timeout
HTTP = "http_"  # followed by the status code, e.g. http_401
BAD_STREAM = "bad_stream"  # a line that is not the JSON the protocol promises
INCOMPLETE = "incomplete_stream"  # the body ended before the protocol's final message
SERVER_ERROR = "server_error"  # the server reported an error inside the stream
NO_TOKENS = "no_tokens"  # a complete response with no generated text
STORE_ERROR = "store_error"  # a run-level fault: the result store failed, the measurements did not
DEADLINE = "deadline"
CANCELLED = "cancelled"
BAD_INPUT = "bad_input"
WORKER_LOST = "worker_lost"  # the worker process or Ray actor that held the request died


@dataclass
class RequestResult:
    """What one streamed request measured; errors are captured here, never raised."""

    ok: bool = False
    ttft_s: float | None = None
    itl_s: list[float] = field(default_factory=list)  # gaps between content messages after the first
    e2e_s: float | None = None
    output_tokens: int | None = None  # from the server (usage.completion_tokens / eval_count)
    output_tokens_source: str | None = None  # usage | eval_count | retokenized (server tokenizer on the text)
    prompt_tokens: int | None = None  # from the server (usage.prompt_tokens / prompt_eval_count)
    content_messages: int = 0  # stream messages that carried text (NOT a token count)
    # Ollama's own timings, converted from nanoseconds.
    load_s: float | None = None
    prompt_eval_s: float | None = None
    eval_s: float | None = None
    total_s: float | None = None
    cold_start: bool = False
    error_kind: str | None = None
    error_message: str | None = None
    started_perf_s: float = 0.0  # time.perf_counter() when the request was sent
    text: str = field(default="", repr=False)  # generated text; only for a server-side recount
    # Set by the runner.
    concurrency: int = 1
    warmup: bool = False
    index: int = 0
    rate: float | None = None  # the open-loop level's requests/s; None in a closed loop
    due_s: float | None = None  # perf_counter reading when the schedule wanted the request sent
    sent_s: float | None = None  # perf_counter reading when its bytes were handed to the socket
    worker: int = 0  # which worker process or Ray actor sent it

    @property
    def tpot_s(self) -> float | None:
        """Time per output token after the first, as vLLM bench serve defines it."""
        if self.e2e_s is None or self.ttft_s is None or not self.output_tokens or self.output_tokens < 2:
            return None
        return (self.e2e_s - self.ttft_s) / (self.output_tokens - 1)

    @property
    def queue_s(self) -> float | None:
        """TTFT not explained by Ollama's load and prefill: queueing, first decode step, network."""
        if self.ttft_s is None or self.prompt_eval_s is None:
            return None
        return max(0.0, self.ttft_s - (self.load_s or 0.0) - self.prompt_eval_s)

    def fail(self, kind: str, message: str) -> RequestResult:
        """Mark the request failed, keeping everything already measured."""
        self.ok = False
        if self.error_kind is None:  # the first fault is the cause; later ones are consequences
            self.error_kind = kind
            self.error_message = message[:500]
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON/storage, with the derived TPOT and queue time."""
        d = asdict(self)
        d.pop("text")
        d["tpot_s"] = self.tpot_s
        d["queue_s"] = self.queue_s
        return d


NS_PER_S = 1e9  # Ollama durations are nanoseconds: https://docs.ollama.com/api/usage


def ns_to_s(value: Any) -> float | None:
    """Convert an Ollama nanosecond duration to seconds; None when absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value / NS_PER_S
