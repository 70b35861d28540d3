"""SCBench-style multi-turn evaluation of the torch engine (python -m bench.scbench)."""
