"""Live latency probe for Ollama and OpenAI-compatible endpoints: clients, runner, statistics, store, CLI.

Entry points: runner.run_probe / runner.discover, store.ProbeStore / store.run_and_save /
store.measured_decode_tokens_per_s, and `python -m probe` (see DESIGN.md). No streamlit imports here.
"""
