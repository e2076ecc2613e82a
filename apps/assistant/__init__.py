"""Efficiency-first LLM assistant: offline SmolLM2, OpenAI-compatible API, energy per request."""
