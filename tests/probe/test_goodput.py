"""Goodput: SLO parsing (bad input is one clear message), per-request scoring, level goodput, early cut."""

from __future__ import annotations

import pytest

from probe.goodput import Slo, clearly_failing, level_goodput, parse_attainment, parse_goodput
from probe.guard import ProbeInputError
from probe.results import RequestResult


def req(ttft_s: float, e2e_s: float, tokens: int = 11, ok: bool = True, warmup: bool = False) -> RequestResult:
    return RequestResult(ok=ok, ttft_s=ttft_s, e2e_s=e2e_s, output_tokens=tokens, warmup=warmup)


def test_parse_any_subset_in_milliseconds() -> None:
    assert parse_goodput("ttft:500 tpot:50 e2e:8000") == Slo(0.5, 0.05, 8.0, 0.95)
    assert parse_goodput(["ttft:250", "e2e:1000"], "0.9") == Slo(ttft_s=0.25, e2e_s=1.0, attainment=0.9)
    assert parse_goodput("TPOT:12.5") == Slo(tpot_s=0.0125)
    assert parse_goodput("ttft:100,tpot:10") == Slo(ttft_s=0.1, tpot_s=0.01)
    assert parse_goodput(["ttft:100 tpot:10"]) == Slo(ttft_s=0.1, tpot_s=0.01)  # one quoted argument


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("", "at least one target"),
        ("ttft", "use ttft:MS"),
        ("itl:50", "use ttft:MS"),
        ("ttft:fast", "milliseconds expected"),
        ("ttft:-5", "positive"),
        ("ttft:0", "positive"),
        ("ttft:nan", "positive"),
        ("ttft:10 ttft:20", "given twice"),
    ],
)
def test_bad_goodput_specs_are_one_line(spec: str, fragment: str) -> None:
    with pytest.raises(ProbeInputError, match=fragment) as e:
        parse_goodput(spec)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("value", ["0", "-0.1", "1.01", "abc", "nan", None])
def test_attainment_outside_zero_one(value: object) -> None:
    with pytest.raises(ProbeInputError, match=r"\(0, 1\]"):
        parse_attainment(value)  # type: ignore[arg-type]


def test_attainment_bounds_accepted() -> None:
    assert parse_attainment("1") == 1.0 and parse_attainment(0.001) == 0.001


def test_request_must_meet_every_target() -> None:
    slo = Slo(ttft_s=0.2, tpot_s=0.01, e2e_s=1.0)
    assert slo.met_by(req(0.2, 0.3))  # tpot = 0.1/10 = 0.01: on the line counts as met
    assert not slo.met_by(req(0.21, 0.3))
    assert not slo.met_by(req(0.1, 0.25 + 0.1))  # tpot 0.025
    assert not slo.met_by(req(0.1, 0.2, ok=False))  # failed requests are misses
    assert not slo.met_by(RequestResult(ok=True, ttft_s=None, e2e_s=0.2, output_tokens=5))
    assert Slo(tpot_s=0.001).met_by(req(0.1, 5.0, tokens=1))  # one token: no decode time, as vLLM bench


def test_level_goodput_over_wall_time_excludes_warmup_counts_failures() -> None:
    slo = Slo(ttft_s=0.1, attainment=0.5)
    results = [
        req(0.05, 0.5, tokens=10),
        req(0.08, 0.5, tokens=20),
        req(0.2, 0.5, tokens=30),  # too slow
        req(0.05, 0.5, tokens=40, ok=False),  # failed
        req(0.01, 0.5, tokens=99, warmup=True),  # excluded
    ]
    g = level_goodput(results, slo, wall_s=2.0)
    assert (g.met, g.counted, g.attainment) == (2, 4, 0.5)
    assert g.requests_per_s == pytest.approx(1.0) and g.output_tokens_per_s == pytest.approx(15.0)
    assert level_goodput([], slo, 1.0).attainment is None
    assert level_goodput(results, slo, None).requests_per_s is None


def test_clearly_failing_is_exact_bound() -> None:
    # 100 planned at 95 %: five misses can still pass, the sixth cannot.
    assert not clearly_failing(done=10, missed=5, planned=100, attainment=0.95)
    assert clearly_failing(done=10, missed=6, planned=100, attainment=0.95)
    assert not clearly_failing(done=29, missed=3, planned=30, attainment=0.9)
    assert clearly_failing(done=4, missed=4, planned=30, attainment=0.9)
    assert clearly_failing(done=1, missed=1, planned=30, attainment=1.0)
    assert not clearly_failing(done=0, missed=0, planned=0, attainment=0.9)
