"""LLM client, prompt layout and our OpenAI-compatible server: built by the LLM-service issue."""
