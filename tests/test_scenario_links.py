"""Scenario <-> URL query string: round trips, and any query string falls back safely with notices."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model_specs import load_catalog
from ui.scenario import DEFAULTS, URL_KEYS, Scenario, scenario_from_query, scenario_to_query

CAT = load_catalog()


def test_defaults_make_an_empty_query():
    assert scenario_to_query(Scenario()) == {}


def test_round_trip_of_a_full_scenario():
    s = Scenario(
        model="gemma-4-31b",
        quant="Q8_0",
        ctx=32768,
        engine="vllm",
        kv="fp8",
        hw=next(iter(CAT.hardware)),
        gpus=2,
        conc=8,
        text_only=True,
        in_mtok=250.5,
        out_mtok=40,
        api_in=0.14,
        api_out=0.4,
        cloud_hr=1.79,
        hw_usd=1599,
        months=24,
        kwh=0.31,
        util=0.25,
    )
    back, notices = scenario_from_query(scenario_to_query(s), CAT)
    assert back == s and notices == []


def test_round_trip_of_every_page_input():
    s = Scenario(
        show_out=True,
        ple_host=False,
        moe_host=True,
        prompt=4096,
        out_tok=1024,
        cold=True,
        served="gemma4:e4b",
        use_meas=True,
        pue=1.4,
        coc=7.5,
        fixed=120.0,
        tput="probe",
        meas_tps=321.5,
        meas_run="a1b2c3d4e5f6@4",
        cloud_prov=CAT.cloud_prices[0].provider,
        api_prov=CAT.api_prices[0].provider,
        sens=35,
        tor="cloud",
        fams="gemma4,gemma3",
        score=next(iter(CAT.model("gemma-4-31b").benchmarks)),
    )
    query = scenario_to_query(s)
    assert set(query) == {k for k in URL_KEYS if getattr(s, k) != getattr(DEFAULTS, k)}
    assert query["moe_host"] == "1" and query["ple_host"] == "0" and query["pue"] == "1.4"
    assert scenario_from_query(query, CAT) == (s, [])


@pytest.mark.parametrize(
    ("query", "field", "expected_notice"),
    [
        ({"ctx": "-5"}, "ctx", "ctx='-5'"),
        ({"ctx": "abc"}, "ctx", "ctx='abc'"),
        ({"ctx": "99999999999999999999"}, "ctx", "ctx="),
        ({"model": "gemma-9-deleted"}, "model", "no such model"),
        ({"model": "<script>alert(1)</script>"}, "model", "no such model"),
        ({"hw": "cray-1"}, "hw", "no such hardware"),
        ({"quant": "Q9_Z"}, "quant", "no such quantization"),
        ({"util": "nan"}, "util", "util='nan'"),
        ({"kwh": "inf"}, "kwh", "kwh='inf'"),
        ({"engine": "tensorrt"}, "engine", "engine='tensorrt'"),
        ({"cloud_hw": "cray-1"}, "cloud_hw", "no such hardware"),
        ({"cloud_q": "Q9_Z"}, "cloud_q", "no such quantization"),
        ({"api_model": "gpt-9"}, "api_model", "no such api model"),
        ({"text_only": "maybe"}, "text_only", "text_only='maybe'"),
        # Page-level inputs (issue 10: every widget is in the link).
        ({"moe_host": "perhaps"}, "moe_host", "moe_host='perhaps'"),
        ({"pue": "0.5"}, "pue", "pue='0.5'"),
        ({"prompt": "-1"}, "prompt", "prompt='-1'"),
        ({"tput": "guess"}, "tput", "tput='guess'"),
        ({"meas_run": "x@y"}, "meas_run", "meas_run='x@y'"),
        ({"served": "a b<c>"}, "served", "served="),
        ({"cloud_prov": "acme-gpus"}, "cloud_prov", "no such cloud provider"),
        ({"api_prov": "acme-api"}, "api_prov", "no such API provider"),
        ({"sens": "7.5"}, "sens", "sens='7.5'"),
        ({"tor": "barter"}, "tor", "tor='barter'"),
        ({"fams": "gemma9"}, "fams", "no such model family"),
        ({"score": "IQ"}, "score", "no such benchmark"),
    ],
)
def test_bad_values_fall_back_with_a_notice(query, field, expected_notice):
    s, notices = scenario_from_query(query, CAT)
    assert getattr(s, field) == getattr(DEFAULTS, field)
    assert len(notices) == 1 and expected_notice in notices[0]


def test_aliases_and_case_are_normalised():
    s, notices = scenario_from_query({"model": "gemma-4-31b-it", "quant": "q4_k_m"}, CAT)
    assert (s.model, s.quant, notices) == ("gemma-4-31b", "Q4_K_M", [])


def test_unknown_keys_are_ignored_and_last_repeat_wins():
    s, notices = scenario_from_query({"utm_source": "mail", "ctx": ["4096", "16384"]}, CAT)
    assert s.ctx == 16384 and notices == []


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([*URL_KEYS, "run", "x"]),
        st.one_of(
            st.text(max_size=40),
            st.text(string.digits + "-.e", max_size=25),
            st.lists(st.text(max_size=10), max_size=3),
        ),
        max_size=8,
    )
)
def test_any_query_string_gives_a_valid_scenario(params):
    s, notices = scenario_from_query(params, CAT)
    assert isinstance(s, Scenario)
    assert s.model in CAT.models and s.hw in CAT.hardware
    # Every value that was not taken is named in a notice.
    for key in set(params) & set(URL_KEYS):
        raw = params[key][-1] if isinstance(params[key], list) and params[key] else params[key]
        if raw == [] or getattr(s, key) == getattr(DEFAULTS, key):
            continue
        assert not any(n.startswith(f"ignored {key}=") for n in notices)
    # And the scenario survives its own round trip.
    assert scenario_from_query(scenario_to_query(s), CAT) == (s, [])


def test_readme_documents_every_url_key():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [k for k in URL_KEYS if f"`{k}`" not in readme]
    assert not missing, f"README's URL table lacks {missing}"
