# ReMe: `make run` brings the platform up; `make test` runs the whole suite. Both set up everything.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install wordnet browser run test lint format services-down bench-ingest bench-chat bench-kv bench-export bench-scbench

# llama.cpp for the embedded LLM server is compiled here: a portable AVX2 build, not -march=native.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF

$(STAMP): requirements.txt requirements-dev.txt requirements-llm.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt -c constraints.txt
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install -q -r requirements-llm.txt -c constraints.txt
	touch $(STAMP)

# Chart.js for the dashboard, pinned by package-lock.json and served as a static file.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

install: $(STAMP) node_modules/.package-lock.json wordnet

# WordNet 3.0 from Debian (wordnet-base), the dictionary of the verifier's key-word check (chat.wordnet).
wordnet:
	@test -f /usr/share/wordnet/index.noun || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wordnet-base)

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

run: install
	HF_HUB_OFFLINE=1 $(PY) -m reme.runstack

# Tests use their own database (test_reme_test) and Redis db 15, so they never touch `make run` data.
# Kernel tests run through Triton's interpreter here (no GPU); on a GPU: `python -m pytest kernels/tests`.
test: install browser
	eval "$$($(PY) -m reme.devservices up --database reme_test --redis-db 15)" && \
	HF_HUB_OFFLINE=1 CELERY_QUEUE=reme-test DB_CONN_MAX_AGE=0 TRITON_INTERPRET=1 REME_FAST_PASSWORD_HASHER=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

services-down: install
	$(PY) -m reme.devservices down

bench-ingest: install
	eval "$$($(PY) -m reme.devservices up --database reme_bench --redis-db 14)" && \
	HF_HUB_OFFLINE=1 $(PY) -m bench.ingest

bench-export: install
	eval "$$($(PY) -m reme.devservices up --database reme_bench --redis-db 14)" && \
	HF_HUB_OFFLINE=1 $(PY) -m bench.export $(BENCH_ARGS)

bench-chat: install
	eval "$$($(PY) -m reme.devservices up --database reme_bench --redis-db 14)" && \
	HF_HUB_OFFLINE=1 $(PY) -m bench.chat_load $(BENCH_ARGS)

# Needs the peer's extras too: llama_cpp.server (fastapi, sse-starlette, starlette-context, pydantic-settings).
bench-kv: install
	$(PY) -m pip install -q -r requirements-bench.txt -c constraints.txt
	HF_HUB_OFFLINE=1 $(PY) -m bench.kv_cpu $(BENCH_ARGS)

# SCBench-style accuracy of the torch engine on the packaged small model (CPU, ~20 min).
bench-scbench: install
	HF_HUB_OFFLINE=1 $(PY) -m bench.scbench $(BENCH_ARGS)
