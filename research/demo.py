"""Demo logins, shared by `load_demo` and the `make run` banner (no Django imports here)."""

DEMO_STUDY = "demo-memory-study"
DEMO_LOGINS = {"researcher": "demo-researcher", "trainee": "demo-trainee"}
DEMO_PASSWORD = "remember-me-2026"
