"""`python -m inference.server [--port 8080]`: our OpenAI-compatible server with the llama.cpp CPU engine."""

import argparse
import os
from pathlib import Path

import uvicorn

from .app import create_app
from .engine import LlamaCppEngine
from .model_files import BASE_DIR, resolve_model_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("LLM_SERVER_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("LLM_SERVER_PORT", "8080")))
    parser.add_argument("--model", default=os.environ.get("LLM_MODEL_PATH", ""))
    parser.add_argument("--n-ctx", type=int, default=int(os.environ.get("LLM_SERVER_N_CTX", "8192")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("LLM_SERVER_THREADS", os.cpu_count() or 2)))
    parser.add_argument("--store-dir", default=os.environ.get("LLM_KV_DIR", str(BASE_DIR / ".data" / "kv")))
    parser.add_argument("--ram-mb", type=int, default=int(os.environ.get("LLM_KV_RAM_MB", "1024")))
    parser.add_argument("--disk-mb", type=int, default=int(os.environ.get("LLM_KV_DISK_MB", "8192")))
    parser.add_argument("--block-size", type=int, default=int(os.environ.get("LLM_KV_BLOCK", "32")))
    args = parser.parse_args()
    engine = LlamaCppEngine(
        resolve_model_path(args.model), n_ctx=args.n_ctx, threads=args.threads, store_dir=Path(args.store_dir),
        ram_bytes=args.ram_mb << 20, disk_bytes=args.disk_mb << 20, block_size=args.block_size,
    )  # fmt: skip
    print(f"LLM server ready on http://{args.host}:{args.port}/v1 ({engine.model_name})", flush=True)
    uvicorn.run(create_app(engine), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
