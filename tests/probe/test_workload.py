"""Workloads: length distributions from a seed, JSONL files (errors name the line), shared prefix, multi-turn."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from probe.guard import ProbeInputError
from probe.workload import Lengths, build_workload, load_workload_file, parse_lengths

DATA = Path(__file__).resolve().parents[2] / "probe" / "data"


def test_parse_lengths() -> None:
    assert parse_lengths("512", "--prompt-tokens", 1000) == Lengths(512, 0.0)
    assert parse_lengths("512:128", "--prompt-tokens", 1000) == Lengths(512, 128.0)
    for bad, frag in (("abc", "N or MEAN:SD"), ("0", "1..1000"), ("2000", "1..1000"), ("5:-1", ">= 0"),
                      ("5:x", "N or MEAN:SD"), ("5:nan", ">= 0")):  # fmt: skip
        with pytest.raises(ProbeInputError, match=frag):
            parse_lengths(bad, "--prompt-tokens", 1000)


def test_fixed_lengths_give_prompts_of_that_many_words() -> None:
    specs = build_workload(5, Lengths(100), Lengths(32), seed=1)
    assert [s.max_tokens for s in specs] == [32] * 5 and all(s.expected_prompt_tokens == 100 for s in specs)
    # build_prompt: (100 - 14) random words plus a 10-word instruction ~ 100 tokens
    assert all(85 <= len(s.messages[-1]["content"].split()) <= 100 for s in specs)
    firsts = {tuple(s.messages[-1]["content"].split()[:5]) for s in specs}
    assert len(firsts) == 5  # no two requests share a prefix


def test_normal_lengths_match_mean_and_sd_and_are_reproducible() -> None:
    specs = build_workload(2000, Lengths(512, 128), Lengths(256, 64), seed=7)
    p = [s.expected_prompt_tokens for s in specs]
    o = [s.max_tokens for s in specs]
    assert statistics.mean(p) == pytest.approx(512, rel=0.03) and statistics.stdev(p) == pytest.approx(128, rel=0.07)
    assert statistics.mean(o) == pytest.approx(256, rel=0.03) and statistics.stdev(o) == pytest.approx(64, rel=0.07)
    assert build_workload(50, Lengths(512, 128), seed=7) == build_workload(50, Lengths(512, 128), seed=7)
    assert build_workload(50, Lengths(512, 128), seed=7) != build_workload(50, Lengths(512, 128), seed=8)
    clipped = build_workload(500, Lengths(2, 50), Lengths(2, 50), seed=3)
    assert min(s.max_tokens for s in clipped) == 1 and min(s.expected_prompt_tokens for s in clipped) == 1


def test_shared_prefix_is_one_identical_system_prompt() -> None:
    specs = build_workload(4, Lengths(50), seed=2, shared_prefix_tokens=300)
    systems = {s.messages[0]["content"] for s in specs}
    assert len(systems) == 1 and len(next(iter(systems)).split()) == 300
    assert all(s.messages[0]["role"] == "system" and s.expected_prompt_tokens == 350 for s in specs)
    assert build_workload(1, seed=99, shared_prefix_tokens=300)[0].messages[0] == specs[0].messages[0]


def test_turns_resend_the_history() -> None:
    specs = build_workload(6, Lengths(40), Lengths(20), seed=5, turns=3)
    assert [(s.conversation, s.turn) for s in specs] == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)]
    t1, t2, t3 = specs[:3]
    assert [m["role"] for m in t3.messages] == ["user", "assistant", "user", "assistant", "user"]
    assert t3.messages[:3] == t2.messages and t2.messages[0] == t1.messages[0]
    assert len(t2.messages[1]["content"].split()) == t1.max_tokens  # synthetic reply of the turn's output length
    assert t2.expected_prompt_tokens == 40 + t1.max_tokens + 40


def test_synthetic_sharegpt_file_round_trip() -> None:
    chats = load_workload_file(DATA / "synthetic_chats.jsonl")
    raw = [json.loads(line) for line in (DATA / "synthetic_chats.jsonl").read_text().splitlines()]
    assert len(chats) == len(raw) == 40
    specs = build_workload(30, seed=0, chats=chats, turns=2, shared_prefix_tokens=10)
    for s in specs:
        user = s.messages[-1]["content"]
        line = next(r for r in raw if any(m["value"] == user for m in r["conversations"]))
        msgs = line["conversations"]
        i = next(i for i, m in enumerate(msgs) if m["value"] == user)
        assert s.max_tokens == len(msgs[i + 1]["value"].split())  # output length from the gpt reply
        assert s.turn == i // 2 + 1
        if s.turn == 2:
            assert s.messages[2]["content"] == msgs[1]["value"]  # the real reply is resent as history
    prompts = load_workload_file(DATA / "synthetic_prompts.jsonl")
    specs = build_workload(12, seed=0, chats=prompts)
    want = sorted(json.loads(x)["max_tokens"] for x in (DATA / "synthetic_prompts.jsonl").read_text().splitlines())
    assert sorted(s.max_tokens for s in specs) == want  # each line once before any repeats


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"prompt": "hi", "max_tokens": 5}\n{oops', ":2: not JSON"),
        ('\n\n{"conversations": []}', ":3: 'conversations' must be a non-empty list"),
        ('{"conversations": [{"from": "gpt", "value": "hello"}]}', ":1: the conversation has no human message"),
        ('{"conversations": [{"from": "human"}]}', ":1: each message needs"),
        ('{"prompt": "hi", "max_tokens": 0}', ":1: 'max_tokens' must be"),
        ('{"prompt": "", "max_tokens": 3}', ":1: 'prompt' must be"),
        ("[1, 2]", ":1: expected"),
        ("", "has no requests"),
    ],
)
def test_bad_workload_file_names_the_line(tmp_path: Path, content: str, fragment: str) -> None:
    f = tmp_path / "w.jsonl"
    f.write_text(content)
    with pytest.raises(ProbeInputError, match=fragment) as e:
        load_workload_file(f)
    assert "\n" not in str(e.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ProbeInputError, match="cannot read workload file"):
        load_workload_file(tmp_path / "missing.jsonl")
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ProbeInputError, match="cannot read workload file"):
        load_workload_file(tmp_path / "bin.jsonl")


def test_bad_workload_settings() -> None:
    with pytest.raises(ProbeInputError, match="--turns"):
        build_workload(3, turns=0)
    with pytest.raises(ProbeInputError, match="--shared-prefix-tokens"):
        build_workload(3, shared_prefix_tokens=-1)
