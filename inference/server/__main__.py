"""`python -m inference.server [--port 8080] [--engine llama|torch]`: our OpenAI-compatible server.

`llama` (default): llama.cpp on the CPU. `torch`: our torch engine (a GPU when there is one) with sparse
prefill and the tiered GPU → host → disk prefix KV store; `--random-config llama-3-8b` serves random
weights with a byte tokenizer (benchmarks on machines without weights).
"""

import argparse
import os
from pathlib import Path

import uvicorn

from .app import create_app
from .model_files import BASE_DIR, resolve_model_path


def env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["llama", "torch"], default=env("LLM_ENGINE", "llama"))
    parser.add_argument("--host", default=env("LLM_SERVER_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("LLM_SERVER_PORT", "8080")))
    parser.add_argument("--model", default=env("LLM_MODEL_PATH", ""))
    # 32K (Qwen2.5's native context) holds the demo trainee's whole life log: 20,393 tokens of prefix
    # (320 entries), plus the turn and the reply. The KV cache is allocated for it: 384 MiB for the 0.5B model.
    parser.add_argument("--n-ctx", type=int, default=int(env("LLM_SERVER_N_CTX", "32768")))
    parser.add_argument("--threads", type=int, default=int(env("LLM_SERVER_THREADS", str(os.cpu_count() or 2))))
    parser.add_argument("--store-dir", default=env("LLM_KV_DIR", str(BASE_DIR / ".data" / "kv")))
    parser.add_argument("--ram-mb", type=int, default=int(env("LLM_KV_RAM_MB", "1024")), help="RAM / host tier")
    parser.add_argument("--disk-mb", type=int, default=int(env("LLM_KV_DISK_MB", "8192")))
    parser.add_argument("--block-size", type=int, default=int(env("LLM_KV_BLOCK", "0")), help="0: 32 llama, 256 torch")
    torch_options = parser.add_argument_group("torch engine")
    torch_options.add_argument("--random-config", default=env("LLM_RANDOM_CONFIG", ""))
    torch_options.add_argument("--device", default=env("LLM_DEVICE", ""))
    torch_options.add_argument("--dtype", default=env("LLM_DTYPE", ""))
    torch_options.add_argument("--gpu-kv-mb", type=int, default=int(env("LLM_KV_GPU_MB", "8192")))
    torch_options.add_argument("--kv-codec", choices=["none", "fp8", "int8"], default=env("LLM_KV_CODEC", "none"))
    torch_options.add_argument("--attention", choices=["dense", "sparse"], default=env("LLM_ATTENTION", "sparse"))
    torch_options.add_argument("--sparse-threshold", type=int, default=int(env("LLM_SPARSE_THRESHOLD", "8192")))
    torch_options.add_argument("--patterns", default=env("LLM_PATTERNS", ""), help="<dir>/<name> of -layerNN.json")
    torch_options.add_argument("--yarn-factor", type=float, default=float(env("LLM_YARN_FACTOR", "0")),
                               help="YaRN rope scaling (Qwen2.5: 4 for contexts past 32K); 0: off")  # fmt: skip
    args = parser.parse_args()
    # each engine imports its own stack: a GPU host needs no llama.cpp, the CPU server no Triton
    if args.engine == "torch":
        from inference.torch_engine.factory import EngineSettings, build_engine

        engine = build_engine(EngineSettings(
            model=args.model, random_config=args.random_config, device=args.device, dtype=args.dtype,
            max_tokens=args.n_ctx, block_size=args.block_size or 256, gpu_bytes=args.gpu_kv_mb << 20,
            host_bytes=args.ram_mb << 20, disk_dir=args.store_dir, disk_bytes=args.disk_mb << 20,
            codec=args.kv_codec, attention=args.attention, sparse_threshold=args.sparse_threshold,
            patterns=args.patterns, yarn_factor=args.yarn_factor,
        ))  # fmt: skip
    else:
        from .engine import LlamaCppEngine

        engine = LlamaCppEngine(
            resolve_model_path(args.model), n_ctx=args.n_ctx, threads=args.threads, store_dir=Path(args.store_dir),
            ram_bytes=args.ram_mb << 20, disk_bytes=args.disk_mb << 20, block_size=args.block_size or 32,
        )  # fmt: skip
    print(f"LLM server ready on http://{args.host}:{args.port}/v1 ({engine.model_name}, {args.engine})", flush=True)
    uvicorn.run(create_app(engine), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
