"""The capacity flags of `python -m probe` (issue 12), parsed and validated in one place for the CLI and the page.

probe/__main__.py calls `add_arguments(parser)` and `options_from_args(args)`; bad input raises ProbeInputError
with the one-line message the CLI prints before exiting 2.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from probe.goodput import DEFAULT_ATTAINMENT, Slo, parse_attainment, parse_goodput
from probe.guard import MAX_OUTPUT_TOKENS, MAX_PROMPT_TOKENS, ProbeInputError
from probe.search import SEARCH_KINDS, validate_search
from probe.workload import MAX_TURNS, FileChat, Lengths, load_workload_file, parse_lengths


@dataclass(frozen=True)
class CapacityOptions:
    """SLO, search and workload settings of one run (all optional: a plain ladder has none)."""

    slo: Slo | None = None
    search: str | None = None
    search_max: float | None = None
    prompt_tokens: Lengths = Lengths(128)
    max_tokens: Lengths = Lengths(64)
    workload_file: str | None = None
    chats: tuple[FileChat, ...] | None = None
    shared_prefix_tokens: int = 0
    turns: int = 1

    def to_json(self) -> dict[str, Any]:
        """For the run's stored settings (the file's path, not its contents)."""
        return {
            "slo": self.slo.to_json() if self.slo else None,
            "search": self.search,
            "search_max": self.search_max,
            "prompt_tokens": {"mean": self.prompt_tokens.mean, "sd": self.prompt_tokens.sd},
            "max_tokens": {"mean": self.max_tokens.mean, "sd": self.max_tokens.sd},
            "workload_file": self.workload_file,
            "shared_prefix_tokens": self.shared_prefix_tokens,
            "turns": self.turns,
        }


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The SLO, search and workload flags (--prompt-tokens / --max-tokens accept MEAN:SD as strings)."""
    ap.add_argument("--goodput", nargs="+", metavar="KEY:MS", help="per-request SLO, e.g. ttft:500 tpot:50 e2e:8000")
    ap.add_argument(
        "--slo-attainment", default=None, help=f"share that must meet the SLO (default {DEFAULT_ATTAINMENT})"
    )
    ap.add_argument("--search", choices=SEARCH_KINDS, help="find the largest load meeting the SLO")
    ap.add_argument("--search-max", type=float, help="upper bound of the search (users or requests/s)")
    ap.add_argument("--workload", metavar="FILE.jsonl", help="ShareGPT-style or {prompt, max_tokens} lines")
    ap.add_argument("--shared-prefix-tokens", type=int, default=0, help="common system prompt (prefix caching)")
    ap.add_argument("--turns", type=int, default=1, help="multi-turn chats that resend the history")


def options_from_args(args: argparse.Namespace) -> CapacityOptions:
    """Validate the flags together; ProbeInputError (one line) on bad input."""
    slo = None
    if args.goodput:
        slo = parse_goodput(
            args.goodput, args.slo_attainment if args.slo_attainment is not None else DEFAULT_ATTAINMENT
        )
    elif args.slo_attainment is not None:
        parse_attainment(args.slo_attainment)
        raise ProbeInputError("--slo-attainment needs --goodput targets")
    if args.search:
        if slo is None:
            raise ProbeInputError("--search needs an SLO: add --goodput, e.g. --goodput ttft:500")
        if args.search_max is None:
            raise ProbeInputError("--search needs --search-max")
        validate_search(args.search, args.search_max)
    elif args.search_max is not None:
        raise ProbeInputError("--search-max needs --search concurrency|rate")
    chats = tuple(load_workload_file(args.workload)) if args.workload else None
    prompt = getattr(args, "prompt_tokens", 128)
    output = getattr(args, "max_tokens", 64)
    return CapacityOptions(
        slo=slo,
        search=args.search,
        search_max=args.search_max,
        prompt_tokens=parse_lengths(prompt, "--prompt-tokens", MAX_PROMPT_TOKENS),
        max_tokens=parse_lengths(output, "--max-tokens", MAX_OUTPUT_TOKENS),
        workload_file=args.workload,
        chats=chats,
        shared_prefix_tokens=_bounded(args.shared_prefix_tokens, "--shared-prefix-tokens", 0, MAX_PROMPT_TOKENS),
        turns=_bounded(args.turns, "--turns", 1, MAX_TURNS),
    )


def _bounded(v: int, flag: str, lo: int, hi: int) -> int:
    if not lo <= v <= hi:
        raise ProbeInputError(f"{flag} must be {lo}..{hi}, got {v}")
    return v
