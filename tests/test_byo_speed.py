"""Speed page, Home, report and speed CLI forecast the model brought on the Memory page (a GGUF file's exact bytes).

The files are full-size 8B-class GGUF headers over sparse (zero, unallocated) tensor data, written with the gguf
package: one with llama.cpp's default Q4_K_M recipe, one with every FFN tensor in Q8_0 (60 % more bytes per token).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bench.gguf_reference import spec
from calculators.gguf_file import file_weights
from calculators.serving.batched import build_step, decode_aggregate_tokens_per_s
from calculators.serving.forecast import serving_fields, under_load
from calculators.speed import concurrency_curve, forecast, roofline
from model_specs import load_catalog
from model_specs.gguf_arch import model_from_gguf
from model_specs.gguf_header import read_local
from tests.gguf_files import model_metadata, recipe, write_sparse_gguf
from ui.report import build_report
from ui.scenario import Scenario, scenario_to_query
from ui.views.speed import build_speed_view

ROOT = Path(__file__).resolve().parents[1]
CAT = load_catalog()
LAYERS = 32
M8B = spec("byo-8b", "llama", layers=LAYERS, hidden=4096, ff=14336, vocab=32000, heads=32, kv=8, ctx=8192)
HEAVY = {f"blk.{i}.ffn_{p}.weight": "Q8_0" for i in range(LAYERS) for p in ("up", "gate", "down")}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("byospeed")
    vocab = [f"t{i}".encode() for i in range(32000)]
    out = {}
    for name, over in (("plain", None), ("heavy", HEAVY)):
        p = d / f"byo-8b-{name}-Q4_K_M.gguf"
        write_sparse_gguf(p, "llama", model_metadata(M8B, "llama"), recipe(M8B, "Q4_K_M", over), ftype="Q4_K_M",
                          vocab=vocab)  # fmt: skip
        out[name] = p
    return out


@pytest.fixture
def model_dir(files, monkeypatch) -> Path:
    monkeypatch.setenv("MODEL_DIR", str(files["plain"].parent))  # the fetch guard reads local paths under it only
    return files["plain"].parent


def _scenario(path: Path, **kw) -> Scenario:
    return Scenario(gguf=str(path), quant="Q4_K_M", engine="llama.cpp", hw="rtx-4090", **kw)


def _recipe(v):
    """The calculators' default-recipe headline of the view's own model (no file bytes), at the view's lengths."""
    args = (v.model, "Q4_K_M", v.hardware)
    kw = dict(engine="llama.cpp", context_tokens=v.context_tokens, prompt_tokens=v.prompt_tokens,
              output_tokens=v.output_tokens)  # fmt: skip
    return under_load(forecast(*args, **kw), serving_fields(*args, **kw))


@pytest.mark.usefixtures("model_dir")
def test_speed_view_forecasts_the_files_bytes(files):
    plain, heavy = (build_speed_view(_scenario(files[k]), CAT) for k in ("plain", "heavy"))
    for v, k in ((plain, "plain"), (heavy, "heavy")):
        assert v.error is None and v.byo.error is None and v.model.id == "byo-8b" != CAT.model(Scenario().model).id
        assert v.forecast.weight_bytes_per_token == v.weights.active_bytes_per_token
        assert str(files[k]) in v.own_model_caption and "Memory page" in v.own_model_caption
    rec = _recipe(plain)
    # the default-recipe file is the recipe: same bytes, same decode (an independent check of the override path)
    assert plain.forecast.weight_bytes_per_token == pytest.approx(rec.weight_bytes_per_token, rel=1e-3)
    assert plain.forecast.decode_tokens_per_s == pytest.approx(rec.decode_tokens_per_s, rel=1e-3)
    # the heavier file reads 60 % more bytes a token: decode slower, by less than the bytes ratio (fixed costs)
    bytes_ratio = heavy.forecast.weight_bytes_per_token / rec.weight_bytes_per_token
    speed_ratio = rec.decode_tokens_per_s / heavy.forecast.decode_tokens_per_s
    assert bytes_ratio == pytest.approx(1.6, abs=0.01)
    assert 1 + 0.5 * (bytes_ratio - 1) < speed_ratio < bytes_ratio  # memory-bound on a 4090: most of the gap shows
    # every chart of the page follows the file: depth, concurrency, roofline, serving simulation
    d_plain, d_heavy = plain.depth[0][1], heavy.depth[0][1]
    step = build_step(plain.model, "Q4_K_M", plain.hardware, "llama.cpp", weights_override=plain.weights)
    assert d_heavy < d_plain and d_plain == pytest.approx(decode_aggregate_tokens_per_s(step, 1, 0))
    assert heavy.concurrency[0].step_s > plain.concurrency[0].step_s
    r = roofline(heavy.model, "Q4_K_M", heavy.hardware, depth_tokens=heavy.prompt_tokens + heavy.output_tokens // 2)
    assert heavy.roofline["points"][0]["intensity_flop_per_byte"] < r["points"][0]["intensity_flop_per_byte"]
    c = concurrency_curve(heavy.model, "Q4_K_M", heavy.hardware, context_tokens=heavy.context_tokens)
    assert heavy.concurrency[0].step_s > c[0].step_s
    agg_plain = plain.serving.fields["decode_aggregate_tokens_per_s"]
    agg_heavy = heavy.serving.fields["decode_aggregate_tokens_per_s"]
    assert heavy.serving.error is None and agg_heavy < agg_plain
    assert agg_heavy == pytest.approx(heavy.forecast.decode_tokens_per_s, rel=0.05)  # one user: the step model agrees


def test_a_refused_file_forecasts_the_catalog_model_and_says_why(files, monkeypatch):
    monkeypatch.delenv("MODEL_DIR", raising=False)
    v = build_speed_view(_scenario(files["heavy"]), CAT)
    catalog = build_speed_view(_scenario(files["heavy"]).model_copy(update={"gguf": None}), CAT)
    assert v.byo.byo is None and v.weights is None and v.model.id == catalog.model.id
    assert v.forecast.decode_tokens_per_s == catalog.forecast.decode_tokens_per_s
    assert "cannot be read" in v.own_model_caption and "MODEL_DIR" in v.own_model_caption
    assert v.model.name in v.own_model_caption
    assert catalog.own_model_caption is None


@pytest.mark.usefixtures("model_dir")
def test_report_and_home_agree_with_the_page(files):
    sc = _scenario(files["heavy"])
    v = build_speed_view(sc, CAT)
    rep = build_report(sc, CAT, ("memory", "speed"))
    speed = next(s for s in rep.sections if s.key == "speed")
    rows = {r["metric"]: r["value"] for r in next(t for t in rep.tables if t.name == "speed").rows}
    assert rows["decode tokens/s per user"] == v.forecast.decode_tokens_per_s
    assert speed.data["weight_bytes_per_token"] == v.forecast.weight_bytes_per_token
    assert speed.lines[1] == v.own_model_caption
    # Home (a fresh session opened on the link) shows the speed sentence and the caption naming the file
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for k, val in scenario_to_query(sc).items():
        at.query_params[k] = val
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    home = next(m.value for m in at.markdown if m.value.startswith("**Speed.**"))
    assert f"Decode {v.forecast.decode_tokens_per_s:,.1f} tokens/s" in home and str(files["heavy"]) in home
    # the Speed page: its decode metric is the view's, the caption names the file
    at.switch_page("pages/speed.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    decode = next(m for m in at.metric if m.label == "Decode (tokens/s per user)")
    assert decode.value == f"{v.forecast.decode_tokens_per_s:,.1f}"
    assert any(str(files["heavy"]) in c.value for c in at.caption)
    assert not any("sized there only" in i.value for i in at.info)


def test_cli_serving_fields_use_the_files_bytes(files):
    r = subprocess.run(
        [sys.executable, "-m", "calculators", "speed", "--gguf", str(files["heavy"]), "--hardware", "rtx-4090", "--json"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    f = read_local(files["heavy"])
    m = model_from_gguf(f)
    wb = file_weights(f, m, "llama.cpp", text_only=True)
    hw = CAT.device("rtx-4090")
    args = (m, "Q4_K_M", hw, "llama.cpp", out["context_tokens"], out["prompt_tokens"], out["output_tokens"], 1)
    exact = serving_fields(*args, weights_override=wb)
    default = serving_fields(*args)
    assert out["decode_aggregate_tokens_per_s"] == pytest.approx(exact["decode_aggregate_tokens_per_s"], rel=1e-5)
    assert out["decode_aggregate_tokens_per_s"] < 0.8 * default["decode_aggregate_tokens_per_s"]
    assert out["weight_bytes_per_token"] == pytest.approx(wb.active_bytes_per_token, rel=1e-6)
