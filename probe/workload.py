"""Workloads: what each request of a level sends (messages, max_tokens), drawn up front from a seed.

Lengths are fixed (`512`), normal (`512:128`, mean:sd, clipped to >= 1) or taken from a JSONL file:
ShareGPT-style `{"conversations": [{"from": "human", "value": ...}, {"from": "gpt", "value": ...}, ...]}` or
`{"prompt": ..., "max_tokens": N}` lines. `shared_prefix_tokens` puts one common system prompt in front of every
request (to see prefix caching); `turns` makes multi-turn chats that resend the history. Token counts here are
expectations (one common English word is about one token, see probe/prompt.py; a file's text is counted in
whitespace words); the server's own counts are what a run stores.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probe.guard import MAX_OUTPUT_TOKENS, MAX_PROMPT_TOKENS, ProbeInputError
from probe.prompt import WORDS, build_prompt

MAX_TURNS = 32
MAX_FILE_LINES = 200_000
SHARED_PREFIX_SEED = 1_000_003  # one fixed system prompt for every request of every run
_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant"}


@dataclass(frozen=True)
class Lengths:
    """A token length: fixed (sd 0) or normal with mean and sd, clipped to [1, cap]."""

    mean: int
    sd: float = 0.0

    def draw(self, rng: random.Random, cap: int) -> int:
        """One length from the distribution."""
        if not self.sd:
            return min(self.mean, cap)
        return min(cap, max(1, round(rng.gauss(self.mean, self.sd))))


@dataclass(frozen=True)
class RequestSpec:
    """One request to send: chat messages, the output cap, the prompt length it is expected to have."""

    messages: tuple[dict[str, str], ...]
    max_tokens: int
    expected_prompt_tokens: int
    conversation: int  # which chat it belongs to
    turn: int  # 1-based; turn t+1 resends turns 1..t as history

    def to_json(self) -> dict[str, Any]:
        """Plain dict (for a run's settings or a dry run)."""
        return {"messages": list(self.messages), "max_tokens": self.max_tokens,
                "expected_prompt_tokens": self.expected_prompt_tokens, "conversation": self.conversation,
                "turn": self.turn}  # fmt: skip


def parse_lengths(text: str | int, flag: str, cap: int) -> Lengths:
    """Parse '512' or '512:128' (mean:sd) for a flag; ProbeInputError with a one-line reason otherwise."""
    raw = str(text).strip()
    mean_s, sep, sd_s = raw.partition(":")
    try:
        mean = int(mean_s)
        sd = float(sd_s) if sep else 0.0
    except ValueError:
        raise ProbeInputError(f"{flag} must be N or MEAN:SD (e.g. 512:128), got {raw!r}") from None
    if not 1 <= mean <= cap:
        raise ProbeInputError(f"{flag} mean must be 1..{cap}, got {mean}")
    if not (sd >= 0 and math.isfinite(sd)):
        raise ProbeInputError(f"{flag} standard deviation must be >= 0, got {sd_s!r}")
    return Lengths(mean, sd)


@dataclass(frozen=True)
class FileChat:
    """One line of a workload file: alternating user/assistant texts (the last assistant text sets the output)."""

    turns: tuple[tuple[str, str | None], ...]  # (user text, assistant text or None)
    max_tokens: int | None  # from a {"prompt", "max_tokens"} line


def _words(text: str) -> int:
    return len(text.split())


def _chat_from_line(obj: Any, where: str) -> FileChat:
    if isinstance(obj, dict) and "conversations" in obj:
        conv = obj["conversations"]
        if not isinstance(conv, list) or not conv:
            raise ProbeInputError(f"{where}: 'conversations' must be a non-empty list")
        turns: list[tuple[str, str | None]] = []
        for msg in conv:
            role = _ROLES.get(str(msg.get("from", "")).lower()) if isinstance(msg, dict) else None
            value = msg.get("value") if isinstance(msg, dict) else None
            if role is None or not isinstance(value, str):
                raise ProbeInputError(f"{where}: each message needs 'from' (human|gpt) and a text 'value'")
            if role == "user":
                turns.append((value, None))
            elif turns and turns[-1][1] is None:
                turns[-1] = (turns[-1][0], value)
            # an assistant message before any user message (a greeting) carries no request: skipped
        if not turns:
            raise ProbeInputError(f"{where}: the conversation has no human message")
        return FileChat(tuple(turns), None)
    if isinstance(obj, dict) and "prompt" in obj:
        prompt, max_tokens = obj.get("prompt"), obj.get("max_tokens")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ProbeInputError(f"{where}: 'prompt' must be a non-empty string")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= MAX_OUTPUT_TOKENS:
            raise ProbeInputError(f"{where}: 'max_tokens' must be a whole number 1..{MAX_OUTPUT_TOKENS}")
        return FileChat(((prompt, None),), max_tokens)
    raise ProbeInputError(f"{where}: expected {{'conversations': [...]}} or {{'prompt', 'max_tokens'}}")


def load_workload_file(path: str | Path) -> list[FileChat]:
    """Read a JSONL workload; any fault is a ProbeInputError naming the file and line."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ProbeInputError(f"cannot read workload file {p}: {type(e).__name__}: {e}") from None
    if len(lines) > MAX_FILE_LINES:
        raise ProbeInputError(f"workload file {p} has {len(lines)} lines; the cap is {MAX_FILE_LINES}")
    chats = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ProbeInputError(f"{p}:{n}: not JSON ({e.msg})") from None
        chats.append(_chat_from_line(obj, f"{p}:{n}"))
    if not chats:
        raise ProbeInputError(f"workload file {p} has no requests")
    return chats


def _system(shared_prefix_tokens: int) -> list[dict[str, str]]:
    if not shared_prefix_tokens:
        return []
    rng = random.Random(SHARED_PREFIX_SEED)
    return [{"role": "system", "content": " ".join(rng.choice(WORDS) for _ in range(shared_prefix_tokens))}]


def _filler(tokens: int, rng: random.Random) -> str:
    """An assistant reply of about `tokens` tokens, standing in for the answer in a synthetic history."""
    return " ".join(rng.choice(WORDS) for _ in range(tokens))


def build_workload(
    n: int,
    prompt_tokens: Lengths = Lengths(128),
    max_tokens: Lengths = Lengths(64),
    *,
    seed: int = 0,
    shared_prefix_tokens: int = 0,
    turns: int = 1,
    chats: list[FileChat] | None = None,
) -> list[RequestSpec]:
    """n request specs, conversation by conversation (each `turns` long), reproducible from the seed."""
    if n < 1:
        raise ProbeInputError("a workload needs at least one request")
    if not 1 <= turns <= MAX_TURNS:
        raise ProbeInputError(f"--turns must be 1..{MAX_TURNS}, got {turns}")
    if not 0 <= shared_prefix_tokens <= MAX_PROMPT_TOKENS:
        raise ProbeInputError(f"--shared-prefix-tokens must be 0..{MAX_PROMPT_TOKENS}, got {shared_prefix_tokens}")
    rng = random.Random(seed)
    system = _system(shared_prefix_tokens)
    order = list(range(len(chats))) if chats else []
    rng.shuffle(order)
    specs: list[RequestSpec] = []
    conv = 0
    while len(specs) < n:
        history: list[dict[str, str]] = []
        history_tokens = shared_prefix_tokens
        chat = chats[order[conv % len(order)]] if chats else None
        for t in range(1, turns + 1):
            if chat is not None:
                if t > len(chat.turns):
                    break  # the file's chat is shorter than --turns
                user, reply = chat.turns[t - 1]
                out = chat.max_tokens or min(MAX_OUTPUT_TOKENS, max(1, _words(reply or "")))
                user_tokens = _words(user)
            else:
                user_tokens = prompt_tokens.draw(rng, MAX_PROMPT_TOKENS)
                user = build_prompt(user_tokens, seed=rng.getrandbits(32))  # no prefix shared with other requests
                out = max_tokens.draw(rng, MAX_OUTPUT_TOKENS)
                reply = None
            messages = (*system, *history, {"role": "user", "content": user})
            expected = history_tokens + user_tokens
            specs.append(RequestSpec(tuple(messages), out, expected, conv, t))
            if len(specs) == n:
                break
            reply = reply if reply is not None else _filler(out, rng)
            history += [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
            history_tokens += user_tokens + _words(reply)
        conv += 1
    return specs
