"""Capacity search over simulated levels: exact integers, 5 % rates, reuse, budget and edge cases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe.guard import ProbeInputError
from probe.search import LevelOutcome, search_capacity, validate_search


class Step:
    """A server whose attainment drops below target above `cap`; records what was measured."""

    def __init__(self, cap: float) -> None:
        self.cap = cap
        self.measured: list[float] = []

    def __call__(self, v: float) -> LevelOutcome:
        self.measured.append(v)
        att = 1.0 if v <= self.cap else 0.6
        return LevelOutcome(v, att, goodput_requests_per_s=v * att, goodput_output_tokens_per_s=10 * v * att)


def test_concurrency_brackets_then_bisects_to_the_integer() -> None:
    m = Step(5)
    cap = search_capacity(m, "concurrency", 64, 0.95)
    assert m.measured == [1, 2, 4, 8, 6, 5]
    assert cap["value"] == 5 and cap["first_failing_value"] == 6
    assert cap["attainment"] == 1.0 and cap["first_failing_attainment"] == 0.6
    assert cap["goodput_requests_per_s"] == 5 and cap["goodput_output_tokens_per_s"] == 50
    assert [lv["value"] for lv in cap["levels"]] == m.measured and cap["note"] is None
    assert [lv["passed"] for lv in cap["levels"]] == [True, True, True, False, False, True]
    assert not cap["at_least"] and cap["levels_measured"] == 6


@given(cap=st.integers(1, 200), top=st.integers(1, 256))
def test_concurrency_search_is_exact_for_any_capacity(cap: int, top: int) -> None:
    m = Step(cap)
    out = search_capacity(m, "concurrency", top, 0.9, max_levels=100)
    assert out["value"] == min(cap, top)
    assert len(m.measured) == len(set(m.measured))  # no level measured twice
    assert len(m.measured) <= 2 * top.bit_length() + 1


@given(cap=st.floats(0.05, 500), top=st.floats(1, 400))
def test_rate_search_lands_within_five_percent(cap: float, top: float) -> None:
    m = Step(cap)
    out = search_capacity(m, "rate", top, 0.9, max_levels=100)
    if cap >= top:
        assert out["value"] == pytest.approx(top, rel=1e-3) and out["at_least"]
    elif out["value"] is None:
        assert cap < top / 2 / 2**6  # below the lowest rate a search halves down to
    else:
        assert cap / 1.05 <= out["value"] <= cap * 1.0001
        assert out["first_failing_value"] <= out["value"] * 1.05


def test_smallest_load_failing_is_a_note_not_an_error() -> None:
    out = search_capacity(Step(0.5), "concurrency", 16, 0.95)
    assert out["value"] is None and out["first_failing_value"] == 1 and out["attainment"] is None
    assert "even the smallest load" in out["note"] and len(out["levels"]) == 1


def test_max_passing_says_at_least() -> None:
    m = Step(1000)
    out = search_capacity(m, "concurrency", 12, 0.95)
    assert m.measured == [1, 2, 4, 8, 12]
    assert out["value"] == 12 and out["at_least"] and out["note"].startswith("at least 12")


def test_levels_measured_before_are_reused() -> None:
    m = Step(6)
    known = {1: m(1), 4: m(4), 16: m(16)}
    m.measured.clear()
    out = search_capacity(m, "concurrency", 64, 0.95, known=known)
    assert m.measured == [10, 7, 5, 6] and out["value"] == 6  # bracket [4, 16] came for free
    assert [(lv["value"], lv["reused"]) for lv in out["levels"][:4]] == [(1, True), (4, True), (16, True), (10, False)]
    assert out["levels_measured"] == 4


def test_budget_stops_the_search_with_its_bracket() -> None:
    out = search_capacity(Step(37), "concurrency", 256, 0.95, max_levels=4)
    assert out["levels_measured"] == 4 and out["value"] == 8
    assert out["note"] == "level budget spent: at least 8; no level failed yet" and out["at_least"]
    out = search_capacity(Step(37), "concurrency", 256, 0.95, max_levels=8)  # 1..64, then 48
    assert out["value"] == 32 and out["first_failing_value"] == 48
    assert out["note"] == "level budget spent: capacity is between 32 and 48"


def test_on_level_sees_every_step() -> None:
    seen: list[dict] = []
    search_capacity(Step(3), "concurrency", 8, 0.95, on_level=seen.append)
    assert [s["value"] for s in seen] == [1, 2, 4, 3] and seen[-1]["step"] == 4


def test_unmeasurable_level_counts_as_failing() -> None:
    out = search_capacity(lambda v: LevelOutcome(v, None), "concurrency", 8, 0.5)
    assert out["value"] is None


@pytest.mark.parametrize(
    ("kind", "top", "fragment"),
    [("users", 8, "--search must be"), ("concurrency", 0, "at least 1"), ("rate", 0.5, "at least 1"),
     ("concurrency", 2.5, "whole number"), ("concurrency", 100_000, "whole number"), ("rate", float("inf"), "at least")],
)  # fmt: skip
def test_bad_search_input(kind: str, top: float, fragment: str) -> None:
    with pytest.raises(ProbeInputError, match=fragment):
        validate_search(kind, top)
