"""`python -m calculators speed`: the JSON contract of DESIGN.md and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from calculators.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
FIELDS = (
    "decode_tokens_per_s",
    "decode_tokens_per_s_low",
    "decode_tokens_per_s_high",
    "prefill_tokens_per_s",
    "ttft_s",
    "e2e_s",
    "aggregate_tokens_per_s",
)


def speed(capsys, *args: str) -> tuple[int, dict | None, str]:
    rc = main(["speed", *args, "--json"])
    out, err = capsys.readouterr()
    return rc, (json.loads(out) if rc == 0 else None), err


def test_catalog_model_and_hardware(capsys):
    rc, d, _ = speed(
        capsys,
        "--model",
        "gemma-4-e4b",
        "--quant",
        "Q4_K_M",
        "--hardware",
        "rtx-4090",
        "--context",
        "8192",
        "--prompt-tokens",
        "1000",
        "--output-tokens",
        "200",
        "--concurrency",
        "4",
    )
    assert rc == 0
    for k in FIELDS:
        assert isinstance(d[k], (int, float)) and d[k] > 0, k
    assert d["decode_tokens_per_s_low"] < d["decode_tokens_per_s"] < d["decode_tokens_per_s_high"]
    assert d["aggregate_tokens_per_s"] == pytest.approx(4 * d["per_user_tokens_per_s"], rel=1e-3)
    assert d["bound"] in ("memory", "compute", "kv") and d["concurrency"] == 4


def test_hf_config_on_custom_hardware(capsys):
    cfg = ROOT / "tests" / "fixtures" / "hf_configs" / "llama-3-8b.json"
    rc, d, _ = speed(
        capsys,
        "--hf-config",
        str(cfg),
        "--quant",
        "Q4_K_M",
        "--hardware-kind",
        "nvidia",
        "--memory-bandwidth-gbs",
        "936",
        "--fp16-tflops",
        "71",
        "--memory-gib",
        "24",
    )
    assert rc == 0 and d["model_id"] == "llama-3-8b" and d["hardware_id"] == "custom"
    # XiongjieDai LLaMA 3 table: RTX 3090, 8B Q4_K_M, tg512 115.42 t/s.
    assert 95 < d["decode_tokens_per_s"] < 135
    assert d["max_concurrency"] >= 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "nope", "--quant", "Q4_K_M", "--hardware", "rtx-4090"], "unknown model"),
        (["--model", "gemma-4-e4b", "--quant", "Q4_K_M", "--hardware-kind", "nvidia"], "--memory-bandwidth-gbs"),
        (["--model", "gemma-4-e4b", "--quant", "Q9", "--hardware", "rtx-4090"], "quantization"),
        (
            ["--model", "gemma-4-e4b", "--quant", "Q4_K_M", "--hardware", "rtx-4090", "--concurrency", "0"],
            "concurrency",
        ),
        (["--model", "gemma-4-e4b", "--quant", "Q4_K_M", "--hardware", "rtx-4090", "--memory-gib", "8"], "--hardware"),
        (
            [
                "--model",
                "gemma-4-e4b",
                "--quant",
                "Q4_K_M",
                "--hardware-kind",
                "nvidia",
                "--memory-bandwidth-gbs",
                "-3",
                "--fp16-tflops",
                "10",
            ],
            "bandwidth",
        ),
        (["--hf-config", "/no/such/config.json", "--quant", "Q4_K_M", "--hardware", "rtx-4090"], "cannot read"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, args, message):
    rc, _, err = speed(capsys, *args)
    assert rc == 2 and err.count("\n") == 1 and message in err


def test_subprocess_round_trip():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "calculators",
            "speed",
            "--model",
            "gemma-4-26b-a4b",
            "--quant",
            "Q4_K_M",
            "--hardware",
            "h100-80gb-sxm",
            "--engine",
            "vllm",
            "--gpus",
            "2",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["engine"] == "vllm" and d["gpus"] == 2 and d["step_comm_s"] > 0
