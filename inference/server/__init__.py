"""Our OpenAI-compatible LLM server: `python -m inference.server` (HTTP in app.py, the engine in engine.py)."""
