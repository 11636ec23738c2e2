"""Engine registry: one record per engine, the only place that knows what each runtime supports."""

from __future__ import annotations

import typing

import pytest

from calculators import memory
from calculators.engines import ENGINE_RECORDS, ENGINES, KV_DTYPES, UnknownEngine, engine, kv_dtypes_for
from model_specs import load_catalog
from model_specs.schema import Engine as SchemaEngine
from ui.scenario import Scenario

CAT = load_catalog()


def test_scenario_offers_exactly_the_registry_engines_and_kv_types():
    assert tuple(typing.get_args(Scenario.model_fields["engine"].annotation)) == ENGINES
    assert tuple(typing.get_args(SchemaEngine)) == ENGINES  # the catalog's quant formats name the same engines
    assert set(typing.get_args(Scenario.model_fields["kv"].annotation)) == set(KV_DTYPES)


def test_unknown_engine_is_a_typed_value_error_naming_the_known_ones():
    with pytest.raises(UnknownEngine, match="unknown engine 'tgi' .*llama.cpp, ollama, vllm, transformers"):
        engine("tgi")
    with pytest.raises(ValueError, match="unknown engine"):
        memory.kv_cache_bytes(CAT.model("gemma-4-e4b"), 4096, engine="tgi")


def test_kv_dtypes_follow_the_record_and_the_calculator_refuses_others():
    m = CAT.model("gemma-4-e4b")
    assert kv_dtypes_for("ollama") == ("f16", "q8_0", "q4_0")
    assert kv_dtypes_for("vllm") == ("f16", "bf16", "fp8")
    for name, rec in ENGINE_RECORDS.items():
        for dtype in KV_DTYPES:
            if dtype in rec.kv_dtypes:
                assert memory.kv_cache_bytes(m, 4096, dtype, name) > 0
            else:
                with pytest.raises(ValueError, match=f"no '{dtype}' KV cache"):
                    memory.kv_cache_bytes(m, 4096, dtype, name)


def test_cache_cell_rules_differ_as_the_engines_do():
    # Gemma 4 E4B, 32K context, 4 sequences: llama.cpp caps sliding layers at pad(window x n_seq + ubatch, 256),
    # Ollama adds one cell per sequence, vLLM counts whole 16-token blocks, transformers keeps the window.
    m = CAT.model("gemma-4-e4b")
    w = memory.kv_geometry(m).window
    cells = {name: memory.kv_cells(m, 32768, name, 4) for name in ENGINES}
    assert cells["llama.cpp"].sliding_cells == -(-(w * 4 + 512) // 256) * 256
    assert cells["ollama"].sliding_cells == -(-(4 * (w + 1) + 512) // 256) * 256
    assert cells["transformers"].sliding_cells == w * 4
    assert cells["vllm"].full_cells == 32768 * 4
    assert all(c.full_cells == 32768 * 4 for c in cells.values())


def test_formats_follow_the_record():
    m = CAT.model("gemma-4-e4b")
    for name, rec in ENGINE_RECORDS.items():
        for fmt in ("AWQ", "FP8", "NVFP4"):
            if fmt in rec.linear_formats:
                assert memory.weights(m, fmt, name).total_bytes > 0
            else:
                with pytest.raises(ValueError, match="not supported"):
                    memory.weights(m, fmt, name)
    assert engine("vllm").scheduler.max_num_batched_tokens == 8192
    assert engine("llama.cpp").scheduler.parallel_slots == 1
