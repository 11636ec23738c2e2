"""Serving under load: a batched step-time model and a discrete-event simulation of the engine's scheduler."""
