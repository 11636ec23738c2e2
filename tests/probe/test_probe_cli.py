"""python -m probe: the JSON contract and exit statuses 0 / 1 / 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from probe.__main__ import build_parser, main
from probe.store import ProbeStore
from tests.probe.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
LEVEL_KEYS = {"concurrency", "requests", "ok", "errors", "ttft_s", "itl_s", "tpot_s", "e2e_s",
              "output_tokens_per_s", "output_tokens_total", "server"}  # fmt: skip


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "probe", *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_flags_match_design_contract() -> None:
    # DESIGN.md: --url --backend ollama|openai --model [--concurrency] [--requests] [--prompt-tokens]
    # [--max-tokens] [--api-key-env] [--save] --json
    flags = {a for action in build_parser()._actions for a in action.option_strings}
    assert flags >= {"--url", "--backend", "--model", "--concurrency", "--requests", "--prompt-tokens",
                     "--max-tokens", "--api-key-env", "--save", "--json"}  # fmt: skip


def test_json_shape_and_exit_0(fake_server) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(num_parallel=4)
    p = cli("--url", srv.url, "--backend", "ollama", "--model", "tiny", "--concurrency", "1,4",
            "--requests", "4", "--prompt-tokens", "32", "--max-tokens", "5", "--json")  # fmt: skip
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert (out["backend"], out["model"], out["run_id"]) == ("ollama", "tiny", None)
    assert [r["concurrency"] for r in out["runs"]] == [1, 4]
    for lv in out["runs"]:
        assert set(lv) >= LEVEL_KEYS
        for key in ("ttft_s", "itl_s", "tpot_s", "e2e_s"):
            assert set(lv[key]) == {"p50", "p90", "p99", "mean"}
        assert lv["requests"] == lv["ok"] == 4 and lv["output_tokens_total"] == 20
        assert lv["rate"] is None and lv["achieved_rate"] > 0 and set(lv["schedule_lag_s"]) == {"p50", "p99"}
    assert [set(w) >= {"id", "host", "pid", "requests"} for w in out["workers"]] == [True]
    assert out["workers"][0]["requests"] == 1 + 4 + 4  # warm-up and both levels, from this process


def test_open_loop_json_and_text(fake_server) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(num_parallel=8)
    args = ("--url", srv.url, "--backend", "openai", "--model", "tiny", "--rate", "10,20", "--arrival", "constant",
            "--requests", "10", "--max-tokens", "2", "--warmup", "0")  # fmt: skip
    out = json.loads(cli(*args, "--json").stdout)
    assert [lv["rate"] for lv in out["runs"]] == [10.0, 20.0]
    assert [round(lv["achieved_rate"]) for lv in out["runs"]] == [10, 20]  # 9 gaps of 1/rate each
    assert out["knee"] is None  # a knee is a closed-loop notion
    text = cli(*args).stdout
    assert "10 req/s (lag p99" in text and "20 req/s" in text


def test_some_failed_exit_1_json_still_printed(fake_server) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(fault="die", num_parallel=2)
    p = cli(
        "--url", srv.url, "--backend", "openai", "--model", "tiny", "--requests", "2", "--max-tokens", "5", "--json"
    )
    assert p.returncode == 1 and p.stderr == ""
    out = json.loads(p.stdout)
    assert out["runs"][0]["errors"][0]["kind"] == "incomplete_stream"


def test_refused_is_exit_1_with_an_error_not_a_traceback() -> None:
    p = cli("--url", f"http://127.0.0.1:{free_port()}", "--model", "m", "--json")
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert json.loads(p.stdout)["errors"][0]["kind"] == "connection_refused"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "m", "--json"], "--url"),
        (["--url", "http://127.0.0.1:1", "--model", "m", "--backend", "tgi"], "invalid choice"),
        (["--url", "http://127.0.0.1:1", "--model", "m", "--concurrency", "1,x"], "integers"),
        (["--url", "http://127.0.0.1:1", "--model", "m", "--concurrency", "1000"], "concurrency 1000"),
        (["--url", "http://10.9.9.9:1", "--model", "m"], "not allowed"),
        (["--url", "http://u:p@127.0.0.1:1", "--model", "m"], "credentials"),
        (["--url", "http://127.0.0.1:1", "--model", "m", "--api-key-env", "PROBE_TEST_UNSET"], "not set"),
        (["--url", "http://127.0.0.1:1", "--model", "m", "--api-key-env", "sk-123"], "NAME"),
    ],
)
def test_bad_input_exit_2_one_line(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err and err.startswith("error: ")


def test_bad_input_through_python_m_probe() -> None:
    p = cli("--url", "http://127.0.0.1:1", "--model", "m", "--concurrency", "0")
    assert p.returncode == 2 and p.stdout == "" and p.stderr == "error: concurrency 0 is outside 1..256\n"


def test_api_key_from_env_and_save(fake_server) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(api_key="sk-cli-secret")
    p = cli("--url", srv.url, "--model", "tiny", "--requests", "2", "--max-tokens", "3", "--api-key-env",
            "MY_KEY", "--save", "--json", env={"MY_KEY": "sk-cli-secret"})  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(p.stdout)
    assert out["run_id"] and "sk-cli-secret" not in p.stdout
    store = ProbeStore()
    run = store.get_run(out["run_id"])
    assert run["status"] == "complete" and len(run["samples"]) == 3
    assert "sk-cli-secret" not in json.dumps(run, default=str)
    store.close()
