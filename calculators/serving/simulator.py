"""Discrete-event simulation of an inference engine's scheduler over a step-time model.

One generic loop covers the three engines, which differ in their knobs (see `vllm`, `llamacpp`, `ollama`):
every engine step decodes one token for each running sequence and fills the rest of its token budget with prompt
chunks (vLLM chunked prefill; llama-server and Ollama's runner also put prompt tokens of new slots into the same
batch as the generating ones). vLLM allocates paged KV blocks on demand and preempts the newest request (recompute)
when they run out; llama.cpp / Ollama admit a request to a free slot only when its whole context fits the unified
KV (they cannot preempt); Ollama rejects requests beyond its queue.

Lean by design: between events (an arrival that can be admitted, a sequence finishing, the KV running out) the
batch is constant, so runs of pure decode steps are advanced in one go with the arithmetic series of their step
times (the KV read grows by one token per sequence per step). Times in seconds.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol


class StepCost(Protocol):
    """Step-time model: seconds of one engine step = base_s(...) + kv_token_s x cached tokens read by decoders."""

    kv_token_s: float

    def base_s(self, n_decode: int, prefill_tokens: int, prefill_pairs: float) -> float:
        """Seconds of a step with `n_decode` decoding sequences and `prefill_tokens` prompt tokens, KV reads aside;
        `prefill_pairs` = sum over prompt chunks of chunk tokens x mean context they attend to (attention FLOPs)."""
        ...


@dataclass(frozen=True)
class AffineStep:
    """A step model linear in its inputs (tests and quick what-ifs)."""

    fixed_s: float
    per_seq_s: float = 0.0
    per_prefill_token_s: float = 0.0
    per_pair_s: float = 0.0
    kv_token_s: float = 0.0

    def base_s(self, n_decode: int, prefill_tokens: int, prefill_pairs: float) -> float:
        """Fixed + per-sequence + per-prompt-token + attention terms."""
        return (
            self.fixed_s
            + self.per_seq_s * n_decode
            + self.per_prefill_token_s * prefill_tokens
            + self.per_pair_s * prefill_pairs
        )


@dataclass(frozen=True)
class EngineConfig:
    """Scheduler knobs of one engine instance."""

    kind: str  # "vllm" | "llama.cpp" | "ollama"
    max_seqs: int  # vLLM max_num_seqs; llama.cpp --parallel; OLLAMA_NUM_PARALLEL
    token_budget: int  # tokens per step: vLLM max_num_batched_tokens; llama.cpp / Ollama n_batch
    kv_tokens: int | None = None  # KV capacity in tokens (vLLM: GPU blocks x block size; llama.cpp: n_ctx unified)
    block_size: int = 16
    on_demand: bool = True  # paged blocks allocated as tokens arrive (vLLM) vs whole context reserved (slots)
    max_queue: int | None = None  # requests waiting beyond this are rejected (OLLAMA_MAX_QUEUE)
    frontend_s: float = 0.0  # from a request's send to the scheduler seeing it (HTTP, chat template, tokenizer)


def vllm(
    max_num_seqs: int = 256,
    max_num_batched_tokens: int = 8192,
    kv_tokens: int | None = None,
    block_size: int = 16,
    frontend_s: float = 0.0,
) -> EngineConfig:
    """vLLM V1 defaults: continuous batching, chunked prefill, paged KV with preemption."""
    return EngineConfig("vllm", max_num_seqs, max_num_batched_tokens, kv_tokens, block_size, True, None, frontend_s)


def tensorrt_llm(max_batch_size: int = 2048, max_num_tokens: int = 8192, kv_tokens: int | None = None) -> EngineConfig:
    """TensorRT-LLM (and NIM on it): in-flight batching, chunked context, GUARANTEED_NO_EVICT admission (a request
    starts only when KV blocks for its whole prompt + max output are free, so nothing is ever preempted)."""
    return EngineConfig("tensorrt-llm", max_batch_size, max_num_tokens, kv_tokens, 1, False, None)


def llamacpp(n_parallel: int = 4, n_batch: int = 2048, n_ctx: int | None = None) -> EngineConfig:
    """llama-server: `n_parallel` slots over a unified KV of `n_ctx` cells, FIFO queue beyond the slots."""
    return EngineConfig("llama.cpp", n_parallel, n_batch, n_ctx, 1, False, None)


def ollama(num_parallel: int = 1, n_batch: int = 512, n_ctx: int | None = None, max_queue: int = 512) -> EngineConfig:
    """Ollama: OLLAMA_NUM_PARALLEL slots, OLLAMA_MAX_QUEUE waiting requests (more are rejected)."""
    return EngineConfig("ollama", num_parallel, n_batch, n_ctx, 1, False, max_queue)


@dataclass(frozen=True)
class Load:
    """The probe's load patterns: a closed loop of `concurrency` users or an open loop at `rate_per_s`."""

    requests: int = 1000
    concurrency: int | None = None
    rate_per_s: float | None = None
    arrival: str = "poisson"  # poisson | constant | gamma
    burstiness: float = 1.0  # gamma shape (1 = Poisson, < 1 burstier)
    prompt_tokens: int = 512
    prompt_sd: float = 0.0
    output_tokens: int = 256
    output_sd: float = 0.0
    cached_prefix_tokens: int = 0  # leading prompt tokens already in the prefix cache (a shared system prompt)
    seed: int = 0

    def __post_init__(self) -> None:
        if (self.concurrency is None) == (self.rate_per_s is None):
            raise ValueError("a load is either a closed loop (concurrency) or an open loop (rate), not both")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.rate_per_s is not None and not self.rate_per_s > 0:
            raise ValueError("rate must be positive")
        if self.requests < 1 or self.output_tokens < 1 or self.prompt_tokens < 0:
            raise ValueError("requests and output tokens must be >= 1, prompt tokens >= 0")
        if not 0 <= self.cached_prefix_tokens <= self.prompt_tokens:
            raise ValueError("the cached prefix is between 0 tokens and the whole prompt")
        if self.arrival not in ("poisson", "constant", "gamma"):
            raise ValueError(f"unknown arrival pattern '{self.arrival}' (poisson, constant, gamma)")


@dataclass(frozen=True)
class Slo:
    """Per-request targets (vLLM bench --goodput); None = no target."""

    ttft_s: float | None = None
    tpot_s: float | None = None
    e2e_s: float | None = None


def _lengths(rng: random.Random, n: int, mean: int, sd: float, low: int) -> list[int]:
    """Fixed or normal lengths, at least `low`."""
    if sd <= 0:
        return [max(low, mean)] * n
    return [max(low, round(rng.gauss(mean, sd))) for _ in range(n)]


def _cached_tokens(prompt: int, prefix: int, block: int) -> int:
    """Prompt tokens found in the prefix cache: whole KV blocks of the prefix only, and never the prompt's last
    token (the engine computes it to sample the first output token)."""
    return max(0, min(prefix, prompt - 1)) // block * block


def _arrivals(rng: random.Random, load: Load) -> list[float]:
    """Open-loop arrival times drawn up front (the probe's schedule)."""
    n, rate = load.requests, load.rate_per_s
    if load.arrival == "constant":
        return [i / rate for i in range(n)]
    shape = 1.0 if load.arrival == "poisson" else load.burstiness
    t, out = 0.0, []
    for _ in range(n):
        t += rng.gammavariate(shape, 1.0 / (rate * shape))
        out.append(t)
    return out


@dataclass
class SimResult:
    """Per-request times and the step log of one simulation."""

    arrival_s: list[float]
    first_token_s: list[float]
    finish_s: list[float]
    prompt_tokens: list[int]
    output_tokens: list[int]
    rejected: int
    preemptions: int
    itl_values_s: list[float] = field(default_factory=list)  # inter-token gaps, weighted by itl_weights
    itl_weights: list[float] = field(default_factory=list)

    def served(self) -> list[int]:
        """Indices of the requests that finished."""
        return [i for i, f in enumerate(self.finish_s) if f >= 0]


class _Sim:
    """State of one run (see module docstring); methods keep the loop readable and short."""

    def __init__(self, step: StepCost, eng: EngineConfig, load: Load) -> None:
        self.step, self.eng, self.load = step, eng, load
        rng = random.Random(load.seed)
        n = load.requests
        self.prompt = _lengths(rng, n, load.prompt_tokens, load.prompt_sd, 0)
        self.out = _lengths(rng, n, load.output_tokens, load.output_sd, 1)
        self.cached = [_cached_tokens(p, load.cached_prefix_tokens, eng.block_size) for p in self.prompt]
        self.arr = [-1.0] * n
        self.first = [-1.0] * n
        self.fin = [-1.0] * n
        self.t = 0.0
        self.g = 0  # decode steps taken so far (a decoding sequence's length grows by one per step)
        self.waiting: deque[int] = deque()
        self.prefilling: list[int] = []  # admitted, prompt not yet done (admission order)
        self.target = [0] * n  # tokens to prefill (prompt, or prompt + generated after a preemption)
        self.done_pf = [0] * n
        self.gen = [0] * n  # tokens generated before joining the decode set
        self.g0 = [0] * n  # decode step at which the sequence joined the decode set
        self.ver = [0] * n  # heap entries with an older version are stale (preempted)
        self.heap: list[tuple[int, int, int]] = []  # (finish step, version, request)
        self.decoding: dict[int, None] = {}  # ordered set, admission order (newest last)
        self.kv_s = 0  # sum over decoding of (length - g): their total length is kv_s + n_decode x g
        self.reserved = 0  # tokens held: prefilled tokens (on demand) or whole contexts (slots)
        self.resv = [0] * n  # slots: tokens reserved by request i
        self.finished = 0
        self.rejected = 0
        self.preemptions = 0
        self.itl_v: list[float] = []
        self.itl_w: list[float] = []
        self.pending: list[tuple[float, int]] = []  # (time request i is sent, i), a heap
        self.issued = 0
        sends = _arrivals(rng, load) if load.rate_per_s is not None else [0.0] * min(load.concurrency, n)
        for a in sends:
            self._send(a)

    # ---------------------------------------------------------------- KV accounting
    def _kv_used(self) -> float:
        """Tokens of KV in use (on demand: half a block of waste per sequence on average)."""
        if not self.eng.on_demand:
            return self.reserved
        n = len(self.decoding)
        seqs = n + len(self.prefilling)
        return self.kv_s + n * self.g + self.reserved + seqs * (self.eng.block_size - 1) / 2

    def _kv_free(self) -> float:
        cap = self.eng.kv_tokens
        return math.inf if cap is None else cap - self._kv_used()

    # ---------------------------------------------------------------- arrivals and admission
    def _send(self, now: float) -> None:
        """A client sends the next request (number `issued`) at `now`."""
        i = self.issued
        self.issued += 1
        self.arr[i] = now
        heapq.heappush(self.pending, (now + self.eng.frontend_s, i))

    def _next_arrival_s(self) -> float | None:
        """When the next request not yet in the queue arrives (None: no more)."""
        return self.pending[0][0] if self.pending else None

    def _take_arrivals(self) -> None:
        """Move requests that have arrived by now into the waiting queue (rejecting beyond max_queue)."""
        q = self.pending
        while q and q[0][0] <= self.t + 1e-12:
            arrived, i = heapq.heappop(q)
            mq = self.eng.max_queue
            if mq is not None and len(self.waiting) >= mq:
                self.rejected += 1
                self.finished += 1
                self._issue_next(arrived)
                continue
            self.target[i] = self.prompt[i]
            self.waiting.append(i)

    def _issue_next(self, now: float) -> None:
        """Closed loop: a user whose request ended sends the next one at once."""
        if self.load.concurrency is not None and self.issued < self.load.requests:
            self._send(now)

    def _admissible(self) -> bool:
        """Could the head of the queue start now?"""
        if not self.waiting or len(self.decoding) + len(self.prefilling) >= self.eng.max_seqs:
            return False
        i = self.waiting[0]
        if self.eng.kv_tokens is None:
            return True
        if self.eng.on_demand:  # blocks for its cached prefix, its first chunk and the running decoders' next tokens
            fresh = self.cached[i] if self.gen[i] == 0 else 0
            chunk = min(self.target[i], fresh + self.eng.token_budget) + self.eng.block_size
            return self._kv_free() - len(self.decoding) >= chunk
        return self._kv_free() >= self.target[i] + self.out[i] - self.gen[i]

    # ---------------------------------------------------------------- one mixed step (prompt chunks + decodes)
    def _plan_prefill(self) -> list[tuple[int, int]]:
        """(request, chunk tokens) scheduled this step: running prefills first, then new admissions (FCFS)."""
        budget = self.eng.token_budget - len(self.decoding)
        plan: list[tuple[int, int]] = []
        room = self._kv_free() - len(self.decoding)
        for i in self.prefilling:
            if budget <= 0:
                return plan
            c = min(budget, self.target[i] - self.done_pf[i])
            if self.eng.on_demand:
                c = int(min(c, max(room, 0)))
                room -= c
                self.reserved += c
            if c > 0:
                plan.append((i, c))
                budget -= c
                self.done_pf[i] += c
        while budget > 0 and self._admissible():
            i = self.waiting.popleft()
            self.prefilling.append(i)
            if self.gen[i] == 0 and self.done_pf[i] == 0:  # a fresh prompt: its cached blocks need no compute
                self.done_pf[i] = self.cached[i]
                if self.eng.on_demand:
                    self.reserved += self.cached[i]
                    room -= self.cached[i]
            if not self.eng.on_demand:
                self.resv[i] = self.target[i] + self.out[i] - self.gen[i]
                self.reserved += self.resv[i]
            c = min(budget, self.target[i] - self.done_pf[i])
            if self.eng.on_demand:
                c = int(min(c, max(room, 0)))
                room -= c
                self.reserved += c
            if c > 0 or self.target[i] == 0:  # an empty prompt still takes a step to sample its first token
                plan.append((i, c))
                budget -= c
                self.done_pf[i] += c
        return plan

    def _mixed_step(self, plan: list[tuple[int, int]]) -> None:
        """One step with prompt chunks: decoders advance one token, finished prompts emit their first token."""
        n = len(self.decoding)
        tokens = sum(c for _, c in plan)
        pairs = sum(c * (self.done_pf[i] - c / 2) for i, c in plan)
        dt = self.step.base_s(n, tokens, pairs) + self.step.kv_token_s * (self.kv_s + n * self.g)
        self.t += dt
        self.g += 1
        if n:
            self.itl_v.append(dt)
            self.itl_w.append(n)
        self._finish_decoders()
        for i, _ in plan:
            if self.done_pf[i] >= self.target[i]:
                self._prompt_done(i)

    def _prompt_done(self, i: int) -> None:
        """The step that finishes a prompt samples a token; the sequence then decodes (or is done)."""
        self.prefilling.remove(i)
        if self.first[i] < 0:
            self.first[i] = self.t
        self.gen[i] += 1
        if self.eng.on_demand:
            self.reserved -= self.done_pf[i]
        if self.gen[i] >= self.out[i]:
            self._finish(i)
            return
        length = self.done_pf[i] + 1  # context after this token (prompt + tokens generated so far)
        self.g0[i] = self.g
        self.kv_s += length - self.g
        self.decoding[i] = None
        heapq.heappush(self.heap, (self.g + self.out[i] - self.gen[i], self.ver[i], i))

    def _finish(self, i: int) -> None:
        """Request i has all its tokens at the current time."""
        self.fin[i] = self.t
        self.finished += 1
        self.reserved -= self.resv[i]
        self.resv[i] = 0
        self._issue_next(self.t)

    def _finish_decoders(self) -> None:
        """Pop every decoding sequence whose last token came out by step g."""
        h = self.heap
        while h and h[0][0] <= self.g:
            _, v, i = heapq.heappop(h)
            if v != self.ver[i]:
                continue
            del self.decoding[i]
            self.kv_s -= self.done_pf[i] + 1 - self.g0[i]
            self.gen[i] = self.out[i]
            self._finish(i)

    # ---------------------------------------------------------------- runs of pure decode steps
    def _decode_run(self) -> None:
        """Advance k pure decode steps: up to the next finish, the next admissible arrival or the KV limit."""
        n = len(self.decoding)
        h = self.heap
        while h[0][1] != self.ver[h[0][2]]:
            heapq.heappop(h)
        k = h[0][0] - self.g
        if self.eng.on_demand and self.eng.kv_tokens is not None:
            room = int(self._kv_free() // n)
            if room < 1:
                self._preempt()
                return
            k = min(k, room)
        a = self.step.base_s(n, 0, 0.0) + self.step.kv_token_s * (self.kv_s + n * self.g)
        s = self.step.kv_token_s * n
        nxt = self._next_arrival_s()
        if nxt is not None and (not self.waiting or self._admissible()):
            k = min(k, _steps_until(nxt - self.t, a, s))
        dt = k * a + s * k * (k - 1) / 2
        self.itl_v.append(a + s * (k - 1) / 2)
        self.itl_w.append(n * k)
        self.t += dt
        self.g += k
        self._finish_decoders()

    def _preempt(self) -> None:
        """vLLM recompute preemption: the newest running request frees its blocks and rejoins the queue's head."""
        self.preemptions += 1
        if self.prefilling:
            i = self.prefilling.pop()
            self.reserved -= self.done_pf[i]
        else:
            i = next(reversed(self.decoding))
            del self.decoding[i]
            self.kv_s -= self.done_pf[i] + 1 - self.g0[i]
            self.gen[i] += self.g - self.g0[i]
            self.ver[i] += 1
        self.target[i] = self.prompt[i] + self.gen[i]
        self.done_pf[i] = 0
        self.waiting.appendleft(i)

    def run(self) -> SimResult:
        n = self.load.requests
        while self.finished < n:
            self._take_arrivals()
            if self.eng.on_demand and self.decoding and self._kv_free() < len(self.decoding):
                self._preempt()
                continue
            plan = self._plan_prefill() if (self.prefilling or self._admissible()) else []
            if plan:
                self._mixed_step(plan)
            elif self.decoding:
                self._decode_run()
            elif self.prefilling:  # KV full with only prompts in flight: drop the newest one back
                self._preempt()
            elif (nxt := self._next_arrival_s()) is not None:
                self.t = max(self.t, nxt)
            else:
                raise RuntimeError("simulation stalled: a request can never be admitted (KV smaller than one context)")
        return SimResult(
            self.arr,
            self.first,
            self.fin,
            self.prompt,
            self.out,
            self.rejected,
            self.preemptions,
            self.itl_v,
            self.itl_w,
        )


def _steps_until(dt: float, a: float, s: float) -> int:
    """Smallest k >= 1 with k x a + s x k(k-1)/2 >= dt (the arrival joins at that step boundary)."""
    if dt <= 0:
        return 1
    if s <= 0:
        return max(1, math.ceil(dt / a - 1e-9))
    # s/2 k^2 + (a - s/2) k - dt = 0
    b = a - s / 2
    k = (-b + math.sqrt(b * b + 2 * s * dt)) / s
    return max(1, math.ceil(k - 1e-9))


def simulate(step: StepCost, engine: EngineConfig, load: Load) -> SimResult:
    """Run `load` through `engine`'s scheduler over the step-time model `step`."""
    if engine.max_seqs < 1 or engine.token_budget < 1:
        raise ValueError("max_seqs and token_budget must be at least 1")
    longest = load.prompt_tokens + 4 * load.prompt_sd + load.output_tokens + 4 * load.output_sd
    if engine.kv_tokens is not None and engine.kv_tokens < longest:
        raise ValueError(f"the KV cache ({engine.kv_tokens} tokens) cannot hold one request of ~{longest:.0f} tokens")
    return _Sim(step, engine, load).run()
