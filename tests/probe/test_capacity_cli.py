"""The capacity flags: parsed together, bad input is one line (the CLI prints it and exits 2)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from probe.capacity_cli import add_arguments, options_from_args
from probe.goodput import Slo
from probe.guard import ProbeInputError
from probe.workload import Lengths

DATA = Path(__file__).resolve().parents[2] / "probe" / "data"


def parse(*argv: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompt-tokens", default="128")
    ap.add_argument("--max-tokens", default="64")
    add_arguments(ap)
    return ap.parse_args(list(argv))


def test_full_capacity_command_line() -> None:
    opts = options_from_args(parse(
        "--goodput", "ttft:500", "tpot:50", "--slo-attainment", "0.9", "--search", "rate", "--search-max", "8",
        "--prompt-tokens", "512:128", "--max-tokens", "256:64", "--shared-prefix-tokens", "1000", "--turns", "3",
    ))  # fmt: skip
    assert opts.slo == Slo(ttft_s=0.5, tpot_s=0.05, attainment=0.9)
    assert (opts.search, opts.search_max, opts.shared_prefix_tokens, opts.turns) == ("rate", 8.0, 1000, 3)
    assert opts.prompt_tokens == Lengths(512, 128) and opts.max_tokens == Lengths(256, 64)
    assert opts.to_json()["slo"]["ttft_s"] == 0.5


def test_plain_run_has_no_capacity_settings() -> None:
    opts = options_from_args(parse())
    assert opts.slo is None and opts.search is None and opts.chats is None and opts.prompt_tokens == Lengths(128)
    assert options_from_args(parse("--workload", str(DATA / "synthetic_prompts.jsonl"))).chats is not None


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (("--goodput", "ttft=500"), "bad --goodput target"),
        (("--goodput", "ttft:500", "--slo-attainment", "1.5"), r"\(0, 1\]"),
        (("--goodput", "ttft:500", "--slo-attainment", "0"), r"\(0, 1\]"),
        (("--slo-attainment", "0.9"), "needs --goodput"),
        (("--search", "concurrency", "--search-max", "8"), "needs an SLO"),
        (("--goodput", "ttft:500", "--search", "rate"), "needs --search-max"),
        (("--goodput", "ttft:500", "--search", "concurrency", "--search-max", "0"), "at least 1"),
        (("--goodput", "ttft:500", "--search", "rate", "--search-max", "0.5"), "at least 1"),
        (("--search-max", "4"), "needs --search"),
        (("--prompt-tokens", "512:x"), "--prompt-tokens must be"),
        (("--turns", "0",), "--turns must be"),
        (("--shared-prefix-tokens", "-3",), "--shared-prefix-tokens must be"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(argv: tuple[str, ...], fragment: str) -> None:
    with pytest.raises(ProbeInputError, match=fragment) as e:
        options_from_args(parse(*argv))
    assert "\n" not in str(e.value)


def test_unreadable_workload_names_the_line(tmp_path: Path) -> None:
    f = tmp_path / "w.jsonl"
    f.write_text('{"prompt": "a", "max_tokens": 4}\n{"prompt": "b"}\n')
    with pytest.raises(ProbeInputError, match=r"w.jsonl:2: 'max_tokens'"):
        options_from_args(parse("--workload", str(f)))
