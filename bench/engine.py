"""Time to first token of the torch engine on a GPU, cold and warm, for an 8B-class model.

    python -m bench.engine [--contexts 32768,131072] [--config llama-3-8b]

Random bf16 weights (the GPU machine has none) in Llama-3-8B's shape. For each context length:
- cold prefill, dense (SDPA with cuDNN pinned) and sparse (our vertical-slash kernels, MInference's
  default budgets: 1,000 columns, 6,096 diagonals per head), plus the same prefill with attention
  skipped, to show what attention costs;
- turn k: the same context plus a new ~200-token suffix, with the context still live in the KV cache,
  and restored from the GPU tier after another request used the cache;
- session start: the context restored from pinned host memory and from disk (page cache dropped for
  those files first), with the KV as is and compressed to fp8;
- the physical floor of each restore: KV bytes ÷ measured pinned host→device bandwidth.
Every TTFT goes through TorchEngine.generate (first token sampled, synchronised). Accuracy gate: beside
each sparse time, the first token's logits against dense's on the same context (relative error, and
whether the top-1 token is the same: a config that changes the answer is marked). A random model says
nothing about a real one's accuracy (bench.longctx measures that); the gate shows what a config does
to this model's output. Writes bench/results/engine-<card>.md; the last line printed is the summary the
issue asks for.
"""

import argparse
import os
import re
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from inference.torch_engine.attention import AttentionPolicy, SparsePrefill, load_layer_patterns
from inference.torch_engine.engine import TorchEngine
from inference.torch_engine.kvtiers import TieredKVStore
from inference.torch_engine.tokenizers import ByteTokenizer
from inference.torch_engine.weights import fingerprint, random_model

SUFFIX = 200
BLOCK = 256
CONFIGS = Path(__file__).resolve().parent.parent / "kernels" / "configs"


def searched_patterns(heads: int = 32) -> SparsePrefill:
    """The per-head patterns pattern_search found on Qwen2.5-0.5B (14 heads), laid over 32 heads in turn:
    a realistic mix of A-shape, block-sparse and vertical-slash heads, with their calibration lengths and
    scaling rule (past the lengths, without a rule, the engine refuses them and runs dense). The random
    model's own attention has no such structure; this measures what a searched config costs, not what
    it keeps (bench.longctx measures that on the real model)."""
    layers = load_layer_patterns(CONFIGS, "qwen2.5-coder-0.5b-instruct")
    tiled = {}
    for layer, calibration in layers.items():
        by_length = {
            n: [replace(choices[head % len(choices)], head=head) for head in range(heads)]
            for n, choices in calibration.by_length.items()
        }
        rule = calibration.scaling
        if rule is not None:
            rule = replace(rule, exponents=tuple(rule.exponents[head % len(rule.exponents)] for head in range(heads)))
        tiled[layer] = replace(calibration, by_length=by_length, scaling=rule)
    return SparsePrefill(tiled)


SPARSE_CONFIGS = {"sparse_default": SparsePrefill(), "sparse_searched": searched_patterns()}
RESULTS = Path(__file__).resolve().parent / "results"


class GatedEngine(TorchEngine):
    """Keeps the last prefill's logits (the accuracy gate compares them with dense's)."""

    last_logits: torch.Tensor | None = None

    def prefill(self, tokens):
        logits, cached, source = super().prefill(tokens)
        self.last_logits = logits.float().clone()
        return logits, cached, source


def ttft(engine: TorchEngine, tokens: list[int]) -> float:
    with engine.lock:
        generation = engine.generate(tokens, max_tokens=1, temperature=0.0, stop=[], cancelled=lambda: False)
        "".join(generation.text_pieces)
    torch.cuda.synchronize()
    return engine.metrics.ttft_s[-1]


def logits_gate(row: dict, name: str, logits: torch.Tensor, dense: torch.Tensor) -> None:
    row[f"{name}_logits_err"] = ((logits - dense).norm() / dense.norm()).item()
    row[f"{name}_top1_same"] = int(logits.argmax()) == int(dense.argmax())


def make_store(model, codec: str, disk_dir: Path | None, gpu_bytes: int, host_bytes: int) -> TieredKVStore:
    args = model.args
    return TieredKVStore(
        model_id=f"{fingerprint(model, 'bench')}:{codec}", block_size=BLOCK,
        block_shape=(args.n_layers, args.n_kv_heads, BLOCK, args.head_dim), dtype=torch.bfloat16, device="cuda",
        gpu_bytes=gpu_bytes, host_bytes=host_bytes, disk_dir=disk_dir, disk_bytes=1 << 40, codec=codec,
    )  # fmt: skip


def drop_page_cache(directory: Path) -> None:
    """Evict these files from the page cache (clean pages after fsync), so a restore reads the disk."""
    for path in directory.glob("*.kvb"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def h2d_bandwidth(total: int = 4 << 30, chunk: int = 32 << 20) -> float:
    """Pinned host→device bytes/s in block-sized copies (what a restore does)."""
    host = torch.empty(total, dtype=torch.uint8, pin_memory=True)
    device = torch.empty(total, dtype=torch.uint8, device="cuda")
    device.copy_(host, non_blocking=True)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for offset in range(0, total, chunk):
        device[offset : offset + chunk].copy_(host[offset : offset + chunk], non_blocking=True)
    torch.cuda.synchronize()
    return total / (time.perf_counter() - started)


def disk_read_bandwidth(directory: Path) -> float:
    drop_page_cache(directory)
    files = list(directory.glob("*.kvb"))
    started = time.perf_counter()
    size = sum(len(path.read_bytes()) for path in files)
    return size / (time.perf_counter() - started)


def prefill_without_attention(engine: TorchEngine, context: list[int]) -> float:
    """The prefill's cost with attention replaced by nothing: what sparse attention cannot remove."""
    n = len(context)
    torch.cuda.synchronize()
    started = time.perf_counter()
    with torch.inference_mode():
        engine.model(torch.tensor([context], device="cuda"), torch.arange(n, device="cuda"),
                     lambda q, k, v, layer: q, last_only=True)  # fmt: skip
    torch.cuda.synchronize()
    engine.live = []  # the cache now holds this run's K/V, not the model's
    return time.perf_counter() - started


def bench_context(engine: TorchEngine, n: int, scratch: Path, bandwidth: float) -> dict:
    row: dict = {"n": n}
    generator = torch.Generator().manual_seed(n)
    vocab = engine.model.args.vocab_size
    context = torch.randint(0, vocab, (n,), generator=generator).tolist()
    turn = context + torch.randint(0, vocab, (SUFFIX,), generator=generator).tolist()
    kv_bytes = n // BLOCK * BLOCK * engine.model.kv_bytes_per_token()
    row["kv_gb"] = kv_bytes / 1e9

    def cold(mode: str) -> float:
        engine.policy.mode = mode
        engine.store.clear("gpu")
        engine.store.flush()
        engine.live = []
        return ttft(engine, context)

    engine.store = make_store(engine.model, "none", None, gpu_bytes=kv_bytes + (1 << 30), host_bytes=0)
    row["no_attention_s"] = prefill_without_attention(engine, context)
    dense_logits = None
    for name, sparse in [("cold_dense", None), *SPARSE_CONFIGS.items()]:
        if sparse is not None:
            engine.policy.sparse = sparse
        cold("dense" if sparse is None else "sparse")  # warm-up: Triton autotuning, cuDNN plans for this length
        row[f"{name}_s"] = cold("dense" if sparse is None else "sparse")
        if sparse is None:
            dense_logits = engine.last_logits
        else:
            logits_gate(row, name, engine.last_logits, dense_logits)
            row[f"{name}_refused_layers"] = len({layer for layer, _ in getattr(sparse, "refusals", [])})
        print(f"n={n} cold {name}: {row[f'{name}_s']:.3f} s", flush=True)
    engine.store.flush()

    # turn k: the context is live (the sparse prefill's full KV); then restored from the GPU tier
    ttft(engine, turn)  # warm-up: the prefix-attention kernel autotunes for this suffix shape
    engine.live = list(context)  # the cache still holds the context's K/V; the suffix is recomputed
    row["turn_live_s"] = ttft(engine, turn)
    assert engine.last_prefill["source"] == "context", engine.last_prefill
    engine.live = []
    row["turn_gpu_s"] = ttft(engine, turn)
    assert engine.last_prefill["source"] == "gpu", engine.last_prefill
    print(f"n={n} turn live {row['turn_live_s']:.4f} s, from GPU tier {row['turn_gpu_s']:.4f} s", flush=True)

    for codec in ("none", "fp8"):
        engine.store = None
        torch.cuda.empty_cache()
        disk_dir = scratch / codec
        shutil.rmtree(disk_dir, ignore_errors=True)
        engine.store = make_store(engine.model, codec, disk_dir, gpu_bytes=0, host_bytes=2 * kv_bytes)
        engine.store.save(context, engine.model.kv)  # the live KV of the context: what a session leaves
        engine.store.flush()
        row[f"host_{codec}_gb"] = engine.store.stats()["host_bytes"] / 1e9
        engine.live = []
        row[f"host_{codec}_s"] = ttft(engine, turn)
        assert engine.last_prefill["source"] == "host", engine.last_prefill
        engine.store.host.clear()
        drop_page_cache(disk_dir)
        engine.live = []
        row[f"disk_{codec}_s"] = ttft(engine, turn)
        assert engine.last_prefill["source"] == "disk", engine.last_prefill
        row[f"floor_{codec}_s"] = row[f"host_{codec}_gb"] * 1e9 / bandwidth
        row[f"disk_read_{codec}_gbps"] = disk_read_bandwidth(disk_dir) / 1e9
        print(f"n={n} {codec}: host {row[f'host_{codec}_s']:.3f} s, disk {row[f'disk_{codec}_s']:.3f} s, "
              f"floor {row[f'floor_{codec}_s']:.3f} s", flush=True)  # fmt: skip
        engine.store.host.clear()
        shutil.rmtree(disk_dir, ignore_errors=True)
    engine.store = make_store(engine.model, "none", scratch / "none", gpu_bytes=0, host_bytes=0)
    return row


def render(card: str, bandwidth: float, rows: list[dict]) -> str:
    lines = [
        f"# Torch engine TTFT — {card}",
        "",
        f"Random bf16 weights, Llama-3-8B shape (32 layers, 32 heads, 8 KV heads, d 128); blocks of {BLOCK} "
        f"tokens; turn suffix {SUFFIX} tokens. Pinned host→device: {bandwidth / 1e9:.1f} GB/s. "
        "Sparse, default: vertical-slash with MInference's budgets (1,000 columns, 6,096 diagonals) on every "
        "head; searched: the per-head patterns kernels.pattern_search found on Qwen2.5-0.5B, laid over "
        "the 32 heads (the summary line's cold_sparse_s). All times are seconds to the first token.",
        "",
        "| context | KV GB | cold dense | sparse, default (×) | sparse, searched (×) | no attention | turn, live "
        "| turn, GPU tier | host | host floor | disk | host fp8 | fp8 floor | disk fp8 | disk read GB/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    gate = [
        "",
        "Accuracy gate (first-token logits against dense's, random weights): relative error, top-1 token.",
        "",
        "| context | sparse, default | sparse, searched | searched: layers refused (run dense) |",
        "|---|---|---|---|",
    ]

    def mark(r: dict, name: str) -> str:
        same = "same top-1" if r[f"{name}_top1_same"] else "**changes the answer**"
        return f"{r[f'{name}_logits_err']:.3f}, {same}"

    for r in rows:
        gate.append(f"| {r['n']:,} | {mark(r, 'sparse_default')} | {mark(r, 'sparse_searched')} "
                    f"| {r['sparse_searched_refused_layers']} |")  # fmt: skip
    for r in rows:
        dense = r["cold_dense_s"]
        lines.append(
            f"| {r['n']:,} | {r['kv_gb']:.1f} | {dense:.2f} | {r['sparse_default_s']:.2f} "
            f"({dense / r['sparse_default_s']:.2f}×) | {r['sparse_searched_s']:.2f} "
            f"({dense / r['sparse_searched_s']:.2f}×) | {r['no_attention_s']:.2f} | {r['turn_live_s']:.3f} "
            f"| {r['turn_gpu_s']:.3f} | {r['host_none_s']:.3f} | {r['floor_none_s']:.3f} | {r['disk_none_s']:.2f} "
            f"| {r['host_fp8_s']:.3f} | {r['floor_fp8_s']:.3f} | {r['disk_fp8_s']:.2f} "
            f"| {r['disk_read_none_gbps']:.1f} |"
        )
    last = rows[-1]
    lines += gate
    lines += [
        "",
        f"Goals at {last['n']:,} tokens: turn-k ≤ 1/100 of cold dense: "
        f"{last['turn_live_s'] / last['cold_dense_s']:.4f}; host restore ≤ 1/20 of cold dense: "
        f"{last['host_none_s'] / last['cold_dense_s']:.3f}, within 1.5× of its floor: "
        f"{last['host_none_s'] / last['floor_none_s']:.2f}× (fp8 {last['host_fp8_s'] / last['floor_fp8_s']:.2f}×); "
        f"sparse cold prefill ≥ 2× dense: {last['cold_dense_s'] / last['sparse_searched_s']:.2f}× with the searched "
        f"per-head config, {last['cold_dense_s'] / last['sparse_default_s']:.2f}× with MInference's default budgets.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contexts", default="32768,131072")
    parser.add_argument("--config", default="llama-3-8b")
    parser.add_argument("--scratch", type=Path, default=None, help="disk tier directory (default: a temp dir)")
    args = parser.parse_args()
    contexts = [int(n) for n in args.contexts.split(",")]
    card = torch.cuda.get_device_name()
    model = random_model(args.config, dtype=torch.bfloat16, device="cuda")
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="reme-kv-"))
    engine = GatedEngine(model, ByteTokenizer(), model_name=args.config, max_tokens=max(contexts) + SUFFIX + 8,
                         store=make_store(model, "none", None, 0, 0), policy=AttentionPolicy())  # fmt: skip
    bandwidth = h2d_bandwidth()
    rows = [bench_context(engine, n, scratch, bandwidth) for n in contexts]
    report = render(card, bandwidth, rows)
    slug = re.sub(r"[^a-z0-9]+", "-", card.lower()).strip("-").replace("nvidia-", "")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"engine-{slug}.md").write_text(report)
    print(report)
    last = rows[-1]
    print(
        f"engine card={slug} ctx={last['n']} cold_dense_s={last['cold_dense_s']:.3f} "
        f"cold_sparse_s={last['sparse_searched_s']:.3f} turn_ttft_s={last['turn_live_s']:.4f} "
        f"host_restore_ttft_s={last['host_none_s']:.3f} disk_restore_ttft_s={last['disk_none_s']:.3f}"
    )


if __name__ == "__main__":
    main()
