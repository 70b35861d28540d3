"""GPU benchmark of the attention kernels: `python -m bench.kernels` (on the device machine).

For each context length: dense causal attention through torch SDPA with the backend pinned
(cuDNN, flash), our prefix-attention kernel in dense mode and in decode shape, and our
vertical-slash sparse prefill with MInference's default budgets (1,000 vertical, 6,096 slash),
its stages timed separately, plus the attention recall of the chosen indices on inputs with
planted sink, local and vertical structure. Shapes: batch 1, 32 query heads, 8 KV heads,
d = 128, bf16. Writes bench/results/kernels-<card>.md (and a copy under $OUT if set); the
last line printed is the summary the kernels issue asks for.

Accuracy gate: beside each sparse time, the relative error of the sparse output (default budgets)
against dense cuDNN, up to --max-check tokens (128K by default). `real_attention_rows` times the sparse
core on a real model's captured Q/K/V with given per-head configs against cuDNN, with each layer's
output error (bench.longctx runs it on Qwen2.5-0.5B's Q/K at 32K-128K).
"""

import argparse
import datetime
import math
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import triton
import triton.testing

from bench.minference_side import MInferenceRun
from bench.minference_side import load as minference_load
from kernels.index_convert import convert_vertical_slash
from kernels.prefix_attention import prefix_attention
from kernels.sparse_attention import sparse_attention
from kernels.sparse_prefill import head_chunks, vertical_slash_indices, vertical_slash_prefill

HEADS, KV_HEADS, DIM = 32, 8, 128
VERTICAL, SLASH = 1000, 6096
RESULTS = Path(__file__).resolve().parent / "results"


def causal_flops(n: int) -> float:
    return 2 * HEADS * n * n * DIM  # the issue's convention: half of the full 4·h·n²·d


def timed(fn, long_run: bool) -> float:
    """Median milliseconds; one event-timed run after a warm-up for multi-second calls."""
    if not long_run:
        return triton.testing.do_bench(fn, warmup=25, rep=200, return_mode="median")
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end)


def graph_timed(fn) -> float:
    """Median ms of a CUDA-graph replay: a decode step is a few short kernels, and the host's
    launch gaps between them would otherwise be what is measured."""
    fn()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return triton.testing.do_bench(graph.replay, warmup=25, rep=200, return_mode="median")


def structured_inputs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Q/K with the structure long-context heads show: attention sinks at the first tokens,
    RoPE-style decay with distance (slash lines near the diagonal) and vertical lines (key
    positions that many queries attend to), over Gaussian noise."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    dev = "cuda"
    q = torch.randn(1, HEADS, n, DIM, device=dev, generator=g) * 0.6
    k = torch.randn(1, KV_HEADS, n, DIM, device=dev, generator=g) * 0.6
    group = HEADS // KV_HEADS
    pos = torch.arange(n, device=dev, dtype=torch.float32)
    # local: 32 of the dims carry a rotary signal with RoPE's log-spaced frequencies (base 500,000,
    # as in LLaMA-3): the dot product of two positions falls off with their distance over the
    # whole context, which is what makes slash lines cluster near the diagonal in real models
    freqs = 1.0 / (500000.0 ** (torch.arange(16, device=dev) / 16))
    angle = pos[:, None] * freqs[None, :]
    rot = torch.cat([angle.cos(), angle.sin()], dim=-1) * 2.2  # [n, 32]
    q[..., :32] += rot
    k[..., :32] += rot
    # sinks: the first 4 keys align with a direction every query carries
    sink_dir = torch.zeros(DIM, device=dev)
    sink_dir[32:48] = 1.0
    q += sink_dir * 0.9
    k[:, :, :4] += sink_dir * 3.0
    # verticals: 64 random keys per kv head align with a direction of that head's queries
    for kv_head in range(KV_HEADS):
        cols = torch.randint(0, n, (64,), device=dev, generator=g)
        direction = torch.zeros(DIM, device=dev)
        direction[48 + (kv_head % 8) * 8 : 56 + (kv_head % 8) * 8] = 1.0
        k[0, kv_head, cols] += direction * 2.5
        q[0, kv_head * group : (kv_head + 1) * group] += direction * 0.8
    v = torch.randn(1, KV_HEADS, n, DIM, device=dev, generator=g)
    return q.bfloat16(), k.bfloat16(), v.bfloat16()


def sampled_recall(q, k, lists_for_heads, rows_per_head: int = 128) -> tuple[float, float]:
    """Share of each sampled query's dense attention mass that the sparse lists cover.
    Exact per row (a full softmax over its keys); rows spread over the sequence, late ones included."""
    n = q.shape[2]
    group = HEADS // KV_HEADS
    rows = torch.unique(torch.cat([torch.linspace(n // 8, n - 1, rows_per_head, device="cuda").long(),
                                   torch.tensor([n - 1], device="cuda")]))  # fmt: skip
    recalls = []
    for heads, _kv_heads, (blocks, block_count, columns, column_count) in lists_for_heads:
        for local_h, h in enumerate(range(heads.start, heads.stop)):
            kv = k[0, h // group].float()
            scores = (q[0, h, rows].float() @ kv.T) / math.sqrt(DIM)
            scores = scores.masked_fill(torch.arange(n, device="cuda")[None, :] > rows[:, None], float("-inf"))
            probs = torch.softmax(scores, dim=-1)
            covered = torch.zeros_like(probs, dtype=torch.bool)
            for i, row in enumerate(rows.tolist()):
                qb = row // 64
                for kb in blocks[0, local_h, qb, : block_count[0, local_h, qb]].tolist():
                    covered[i, kb * 64 : kb * 64 + 64] = True
                covered[i, columns[0, local_h, qb, : column_count[0, local_h, qb]].long()] = True
            covered &= torch.arange(n, device="cuda")[None, :] <= rows[:, None]
            recalls.append((probs * covered).sum(-1).mean().item())
    return statistics.mean(recalls), min(recalls)


def bench_length(n: int, args) -> dict:
    row: dict = {"n": n}
    q, k, v = structured_inputs(n, seed=n)
    long_run = n >= 512 * 1024
    # --- dense baselines: SDPA with K/V expanded to the query heads (SDPA's backends take no GQA)
    k_full = k.repeat_interleave(HEADS // KV_HEADS, dim=1)
    v_full = v.repeat_interleave(HEADS // KV_HEADS, dim=1)
    backends = [("cudnn", torch.nn.attention.SDPBackend.CUDNN_ATTENTION)]
    if n <= args.max_flash:
        backends.append(("flash", torch.nn.attention.SDPBackend.FLASH_ATTENTION))
    for name, backend in backends:

        def run(backend=backend, k_full=k_full, v_full=v_full):
            with torch.nn.attention.sdpa_kernel(backend):
                return torch.nn.functional.scaled_dot_product_attention(q, k_full, v_full, is_causal=True)

        try:
            row[f"sdpa_{name}_ms"] = timed(run, long_run)
        except RuntimeError as exc:  # out of memory or unsupported: say so in the table
            row[f"sdpa_{name}_ms"] = float("nan")
            print(f"n={n} sdpa {name}: {exc}".splitlines()[0])
    reference = None
    if n <= args.max_check:
        with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.CUDNN_ATTENTION):
            reference = torch.nn.functional.scaled_dot_product_attention(q, k_full, v_full, is_causal=True)
    del k_full, v_full
    torch.cuda.empty_cache()

    # --- our prefix-attention kernel: dense mode (m = n) and decode shape (m = 1)
    if n <= args.max_prefix_dense:
        row["prefix_dense_ms"] = timed(lambda: prefix_attention(q, k, v), long_run)
        if reference is not None:
            row["prefix_dense_err"] = rel_err(prefix_attention(q, k, v), reference)
    q_decode = q[:, :, -1:].contiguous()
    row["decode_ms"] = graph_timed(lambda: prefix_attention(q_decode, k, v))
    kv_bytes = 2 * k.numel() * k.element_size()
    row["decode_gbps"] = kv_bytes / (row["decode_ms"] / 1e3) / 1e9

    # --- sparse prefill, stage by stage, then end to end
    v_budget = torch.full((HEADS,), VERTICAL, device="cuda")
    s_budget = torch.full((HEADS,), SLASH, device="cuda")
    indices = vertical_slash_indices(q, k, v_budget, s_budget)
    row["estimate_ms"] = timed(lambda: vertical_slash_indices(q, k, v_budget, s_budget), False)
    chunks = list(head_chunks(q, k, VERTICAL, SLASH))
    convert_ms = attention_ms = 0.0
    tiles = 0.0  # 64x64 tiles the sparse core computes, summed over heads and query blocks
    lists_for_recall = []
    for heads, kv_heads in chunks:
        part = [t[:, heads].contiguous() for t in indices]
        lists = convert_vertical_slash(n, *part)
        tiles += (lists[1].sum() + ((lists[3] + 63) // 64).sum()).item()
        convert_ms += timed(lambda part=part: convert_vertical_slash(n, *part), False)
        qh, kh, vh = q[:, heads], k[:, kv_heads], v[:, kv_heads]
        attention_ms += timed(lambda qh=qh, kh=kh, vh=vh, lists=lists: sparse_attention(qh, kh, vh, *lists), False)
        if heads.start < 8:  # recall on the first two KV groups: exact rows are costly at 1M
            lists_for_recall.append((heads, kv_heads, lists))
        if args.minference_kernel is not None:
            minference_side(row, args, n, qh, kh, vh, part, lists, reference, heads)
        del lists
    row["convert_ms"], row["sparse_attn_ms"] = convert_ms, attention_ms
    row["sparse_total_ms"] = row["estimate_ms"] + convert_ms + attention_ms
    qblocks = triton.cdiv(n, 64)
    causal_tiles = HEADS * qblocks * (qblocks + 1) / 2
    row["tile_density"] = tiles / causal_tiles  # share of the causal tiles that are computed
    row["tiles_per_qblock"] = tiles / (HEADS * qblocks)
    # a tile is 64·64 score elements at 4·d FLOPs each: the dense convention 2·h·n²·d counts the
    # n²/2 causal elements the same way
    row["sparse_core_tflops"] = tiles * 64 * 64 * 4 * DIM / (attention_ms / 1e3) / 1e12
    row["sparse_end_to_end_ms"] = timed(lambda: vertical_slash_prefill(q, k, v, v_budget, s_budget), long_run)
    if reference is not None:  # the accuracy the speed keeps: output error against dense
        row["sparse_err"] = rel_err(vertical_slash_prefill(q, k, v, v_budget, s_budget), reference)
    row["recall_mean"], row["recall_min"] = sampled_recall(q, k, lists_for_recall, rows_per_head=args.recall_rows)
    if reference is not None:
        full = vertical_slash_prefill(q, k, v, torch.full((HEADS,), n), torch.full((HEADS,), n))
        row["sparse_full_budget_err"] = rel_err(full, reference)
    return row


def minference_side(row, args, n, qh, kh, vh, part, lists, reference, heads) -> None:
    """MInference's convert + attention on the same indices as ours, for one GQA group of heads."""
    module, index_op = args.minference_kernel
    vertical_idx, _vertical_count, slash_idx, _slash_count = part
    run = MInferenceRun(module, index_op, qh, kh, vh, vertical_idx, slash_idx)
    row["mi_convert_ms"] = row.get("mi_convert_ms", 0.0) + timed(run.convert, False)
    run.convert()
    row["mi_attn_ms"] = row.get("mi_attn_ms", 0.0) + timed(run.attend, False)
    if heads.start == 0:  # outputs on the first group: theirs against ours and against dense
        theirs = run.attend()
        row["mi_vs_ours_err"] = rel_err(theirs, sparse_attention(qh, kh, vh, *lists))
        if reference is not None:
            row["mi_vs_dense_err"] = rel_err(theirs, reference[:, heads])
            row["ours_vs_dense_err"] = rel_err(sparse_attention(qh, kh, vh, *lists), reference[:, heads])
    del run
    torch.cuda.empty_cache()


def cudnn_causal(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """A call of cuDNN's causal attention over q and GQA K/V (expanded once, outside the call)."""
    group = q.shape[1] // k.shape[1]
    k_full, v_full = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)

    def cudnn():
        with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.CUDNN_ATTENTION):
            return torch.nn.functional.scaled_dot_product_attention(q, k_full, v_full, is_causal=True)

    return cudnn


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out.float() - ref.float()).norm() / ref.float().norm()).item()


def ratio(row: dict, dense_key: str, ours_key: str) -> float:
    return row.get(dense_key, float("nan")) / row.get(ours_key, float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lengths", default="8192,32768,131072,524288,1048576")
    parser.add_argument("--max-flash", type=int, default=131072, help="SDPA flash only up to this length")
    parser.add_argument("--max-prefix-dense", type=int, default=131072)
    parser.add_argument("--max-check", type=int, default=131072, help="compare outputs with SDPA up to this length")
    parser.add_argument("--recall-rows", type=int, default=64)
    parser.add_argument("--minference", type=Path, help="MInference's sdist (.tar.gz): run its kernel side by side")
    args = parser.parse_args()
    args.minference_kernel = minference_load(args.minference) if args.minference else None
    card = torch.cuda.get_device_name()
    copy_gbps = measure_copy_bandwidth()
    rows = []
    for n in (int(x) for x in args.lengths.split(",")):
        started = time.time()
        rows.append(bench_length(n, args))
        print(f"n={n} done in {time.time() - started:.0f}s: {rows[-1]}", flush=True)
        torch.cuda.empty_cache()
    report = render(card, copy_gbps, rows)
    slug = card.replace("NVIDIA ", "").replace(" ", "-").lower()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"kernels-{slug}.md").write_text(report)
    if out := os.environ.get("OUT"):
        Path(out, f"kernels-{slug}.md").write_text(report)
    print(report)
    by_n = {r["n"]: r for r in rows}
    pick = lambda n: ratio(by_n.get(n, {}), "sdpa_cudnn_ms", "sparse_total_ms")  # noqa: E731
    prefix_32k = ratio(by_n.get(32768, {}), "sdpa_flash_ms", "prefix_dense_ms")
    decode = max((r["decode_gbps"] for r in rows), default=float("nan"))
    print(
        f"kernels card={slug} sparse_vs_cudnn_128k={pick(131072):.2f} sparse_vs_cudnn_512k={pick(524288):.2f} "
        f"sparse_vs_cudnn_1m={pick(1048576):.2f} prefix_vs_sdpa_flash_32k={prefix_32k:.2f} decode_gbps={decode:.0f}"
    )


def real_attention_rows(qkv_by_n: dict[int, dict], configs: dict[str, object], deadline: float = math.inf):
    """Per (length, layer) of captured real Q/K/V [1, h, n, d] / [1, h_kv, n, d]: cuDNN (K/V expanded
    outside the timing, as above) against each sparse prefill in `configs` (name → an attend callable
    (q, k, v, layer), e.g. an engine SparsePrefill, its index building included), with the output error
    of each against cuDNN."""
    rows = []
    for n, qkv in sorted(qkv_by_n.items()):
        for layer, (q, k, v) in sorted(qkv.items()):
            if time.perf_counter() > deadline:
                return rows
            cudnn = cudnn_causal(q, k, v)
            reference = cudnn()
            row = {"n": n, "layer": layer, "cudnn_ms": timed(cudnn, False)}
            for name, attend in configs.items():
                row[f"{name}_err"] = rel_err(attend(q, k, v, layer), reference)
                row[f"{name}_ms"] = timed(lambda attend=attend, q=q, k=k, v=v, layer=layer: attend(q, k, v, layer),
                                          False)  # fmt: skip
            rows.append(row)
            shown = ", ".join(f"{key} {value:.3g}" for key, value in row.items() if key.endswith(("_ms", "_err")))
            print(f"real Q/K n={n} layer {layer}: {shown}", flush=True)
            del cudnn, reference
    return rows


def measure_copy_bandwidth() -> float:
    src = torch.empty(2 << 30, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    ms = triton.testing.do_bench(lambda: dst.copy_(src), warmup=10, rep=100, return_mode="median")
    return 2 * src.numel() / (ms / 1e3) / 1e9


def render(card: str, copy_gbps: float, rows: list[dict]) -> str:
    def f(value, fmt=".2f"):
        return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)

    lines = [
        f"# Attention kernels on {card}",
        "",
        f"Date {datetime.date.today()}, torch {torch.__version__}, Triton {triton.__version__}, "
        f"Python {platform.python_version()}. Batch 1, {HEADS} query heads, {KV_HEADS} KV heads, d {DIM}, bf16, "
        f"causal. Device-to-device copy: {copy_gbps:.0f} GB/s (read + write).",
        "Dense TFLOP/s use causal FLOPs = 2·h·n²·d. Sparse: 1,000 vertical + 6,096 slash per head "
        "(sinks 30, local 100), on inputs with planted sink/local/vertical structure.",
        "",
        "| n | SDPA cuDNN ms (TFLOP/s) | SDPA flash ms (TFLOP/s) | ours dense ms (TFLOP/s) | decode m=1 µs (GB/s) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        tf = lambda ms, n=r["n"]: causal_flops(n) / (ms / 1e3) / 1e12 if ms and not math.isnan(ms) else None  # noqa: E731
        lines.append(
            f"| {r['n']:,} | {f(r.get('sdpa_cudnn_ms'), '.1f')} ({f(tf(r.get('sdpa_cudnn_ms')), '.0f')}) "
            f"| {f(r.get('sdpa_flash_ms'), '.1f')} ({f(tf(r.get('sdpa_flash_ms')), '.0f')}) "
            f"| {f(r.get('prefix_dense_ms'), '.1f')} ({f(tf(r.get('prefix_dense_ms')), '.0f')}) "
            f"| {r['decode_ms'] * 1e3:.0f} ({r['decode_gbps']:.0f}) |"
        )
    lines += [
        "",
        "| n | estimate ms | convert ms | sparse attention ms | sparse total ms | index share | end-to-end ms "
        "| vs cuDNN | rel. err vs dense | recall mean / min | tiles per query block | share of causal tiles "
        "| core TFLOP/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        share = (r["estimate_ms"] + r["convert_ms"]) / r["sparse_total_ms"]
        lines.append(
            f"| {r['n']:,} | {r['estimate_ms']:.2f} | {r['convert_ms']:.2f} | {r['sparse_attn_ms']:.2f} "
            f"| {r['sparse_total_ms']:.2f} | {share:.0%} | {r['sparse_end_to_end_ms']:.2f} "
            f"| {f(ratio(r, 'sdpa_cudnn_ms', 'sparse_total_ms'))}× | {f(r.get('sparse_err'), '.1e')} "
            f"| {r['recall_mean']:.3f} / {r['recall_min']:.3f} "
            f"| {r['tiles_per_qblock']:.0f} | {r['tile_density']:.1%} | {r['sparse_core_tflops']:.0f} |"
        )
    side = [r for r in rows if "mi_attn_ms" in r]
    if side:
        lines += [
            "",
            "MInference 0.1.6.0 (its CUDA index conversion + its Triton attention, from the PyPI sdist) on the same "
            "indices as ours; its kernel needs K/V expanded to the 32 query heads, ours reads the 8 KV heads:",
            "",
            "| n | MInference convert ms | MInference attention ms | MInference total ms | ours convert + attention ms "
            "| ours vs MInference | theirs vs ours rel. diff | vs dense: theirs / ours |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in side:
            theirs = r["mi_convert_ms"] + r["mi_attn_ms"]
            ours = r["convert_ms"] + r["sparse_attn_ms"]
            lines.append(
                f"| {r['n']:,} | {r['mi_convert_ms']:.2f} | {r['mi_attn_ms']:.2f} | {theirs:.2f} | {ours:.2f} "
                f"| {theirs / ours:.2f}× | {f(r.get('mi_vs_ours_err'), '.1e')} "
                f"| {f(r.get('mi_vs_dense_err'), '.1e')} / {f(r.get('ours_vs_dense_err'), '.1e')} |"
            )
    checks = [
        f"n={r['n']:,}: ours dense vs SDPA rel. error {f(r.get('prefix_dense_err'), '.1e')}, "
        f"sparse at full budget vs SDPA {f(r.get('sparse_full_budget_err'), '.1e')}"
        for r in rows
        if "prefix_dense_err" in r or "sparse_full_budget_err" in r
    ]
    lines += ["", "Correctness on the benchmark inputs (bf16):", *[f"- {c}" for c in checks], ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
