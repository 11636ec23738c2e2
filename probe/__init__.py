"""Live latency probe for Ollama and OpenAI-compatible endpoints: clients, runner, statistics, store, CLI.

Entry points: runner.run_probe / runner.discover, store.ProbeStore (persistence only), record.run_and_save /
record.load_run / record.measured_decode_tokens_per_s, capacity.run_capacity (SLO search, docs/capacity.md),
and `python -m probe` (see DESIGN.md). No streamlit imports here.
"""
