"""SCBench-style evaluation of the torch engine: shared contexts, several questions each, multi-turn and
multi-request, dense vs sparse prefill (full KV cache) vs KV dropping (StreamingLLM: sinks + window).

    python -m bench.scbench [--tokens 2048] [--contexts 1] [--turns 5]      # accuracy, real model, CPU
    python -m bench.scbench --timing [--tokens 32768]                      # per-turn TTFT, GPU

Accuracy runs the packaged Qwen2.5-Coder-0.5B-Instruct (GGUF) through our engine in float32 on the CPU,
at the lengths it handles. Sparse uses the per-head patterns kernels.pattern_search found on this very
model (kernels/configs) for prefills of at least 1,024 tokens; later turns attend densely to the full
cache. Drop keeps 64 sink tokens and a 512-token window for every query, prefill and decode alike.
- multi-turn: one conversation; turn k sees the context, the earlier questions and the model's answers;
- multi-request: each question alone after the same context, which is restored from the prefix store.
Turn 1 is the same request in both modes. A reply is right when it contains the answer string.

Timing runs the 8B-class config with random bf16 weights (byte tokenizer; answers are meaningless) and
reports each turn's TTFT, dense and sparse; KV dropping is not timed (it is emulated with masks here).
Prints a per-turn table; the last line is `scbench turns=<N> dense=<acc> sparse=<acc> drop=<acc>`
(mean over turns ≥ 2), or `scbench_timing …` with --timing.
"""

import argparse
import random
import statistics
from collections import defaultdict
from pathlib import Path

import torch

from bench.engine import searched_patterns
from inference.server.model_files import resolve_model_path
from inference.torch_engine.attention import AttentionPolicy, SparsePrefill, StreamingDrop, load_layer_patterns
from inference.torch_engine.engine import TorchEngine
from inference.torch_engine.factory import EngineSettings, build_engine

from .tasks import TASKS, Context

ROOT = Path(__file__).resolve().parent.parent.parent
RESULTS = ROOT / "bench" / "results"
PATTERNS = ROOT / "kernels" / "configs"
MAX_ANSWER_TOKENS = {"kv": 48, "prefix_suffix": 24, "variable_tracing": 12}
METHODS = ("dense", "sparse", "drop")


def policy_for(method: str, patterns: SparsePrefill, threshold: int) -> AttentionPolicy:
    if method == "drop":
        return AttentionPolicy(mode="drop", drop=StreamingDrop(sinks=64, window=512))
    return AttentionPolicy(mode=method, sparse_threshold=threshold, sparse=patterns)


def reset(engine: TorchEngine, policy: AttentionPolicy) -> None:
    """A method never reuses another method's KV: empty the store and the live cache."""
    engine.policy = policy
    for tier in ("gpu", "host", "disk"):
        engine.store.clear(tier)
    engine.live = []


def ask(engine: TorchEngine, messages: list[dict], max_tokens: int) -> tuple[str, float, int]:
    text, stop = engine.chat_prompt(messages)
    tokens = engine.tokenize(text)
    with engine.lock:
        generation = engine.generate(tokens, max_tokens=max_tokens, temperature=0.0, stop=stop,
                                     cancelled=lambda: False)  # fmt: skip
        reply = "".join(generation.text_pieces)
    return reply, engine.metrics.ttft_s[-1], generation.cached_tokens


def run_context(engine: TorchEngine, context: Context, max_tokens: int, record) -> None:
    first = f"{context.text}\n\n{context.questions[0].text}"
    messages = [{"role": "user", "content": first}]
    for turn, question in enumerate(context.questions, start=1):
        if turn > 1:
            messages.append({"role": "user", "content": question.text})
        reply, ttft, cached = ask(engine, messages, max_tokens)
        messages.append({"role": "assistant", "content": reply})
        record("multi_turn", turn, question, reply, ttft, cached)
        if turn == 1:
            record("multi_request", turn, question, reply, ttft, cached)
    for turn, question in enumerate(context.questions[1:], start=2):
        reply, ttft, cached = ask(
            engine, [{"role": "user", "content": f"{context.text}\n\n{question.text}"}], max_tokens
        )
        record("multi_request", turn, question, reply, ttft, cached)


def accuracy(args) -> None:
    settings = EngineSettings(model=str(resolve_model_path()), device="cpu", max_tokens=args.tokens + 1024,
                              block_size=64, gpu_bytes=1 << 30, host_bytes=0, attention="dense")  # fmt: skip
    engine = build_engine(settings)
    patterns = SparsePrefill(load_layer_patterns(PATTERNS, "qwen2.5-coder-0.5b-instruct"))
    tokenizer = engine.tokenizer
    rng = random.Random(args.seed)
    contexts = [
        TASKS[task](rng, lambda text: len(tokenizer.encode(text)) < args.tokens - 150, args.turns)
        for task in TASKS
        for _ in range(args.contexts)
    ]
    right: dict[tuple, list[bool]] = defaultdict(list)
    ttfts: dict[tuple, list[float]] = defaultdict(list)
    for method in METHODS:
        for context in contexts:
            reset(engine, policy_for(method, patterns, threshold=1024))

            def record(mode, turn, question, reply, ttft, cached, method=method, task=context.task):
                hit = question.answer.lower() in reply.lower()
                right[(method, mode, turn)].append(hit)
                right[(method, mode, task)].append(hit)
                ttfts[(method, mode, turn)].append(ttft)
                print(f"{method:<6} {task:<16} {mode:<13} turn {turn} {'✓' if hit else '✗'} ttft {ttft:6.2f} s "
                      f"cached {cached:5d}  {reply[:60]!r}", flush=True)  # fmt: skip

            run_context(engine, context, MAX_ANSWER_TOKENS[context.task], record)
    report = render_accuracy(args, contexts, right, ttfts)
    (RESULTS / "scbench-cpu.md").write_text(report)
    print(report)
    later = {m: mean([hit for (method, _, turn), hits in right.items() if method == m and isinstance(turn, int)
                      and turn >= 2 for hit in hits]) for m in METHODS}  # fmt: skip
    print(f"scbench turns={args.turns} dense={later['dense']:.3f} sparse={later['sparse']:.3f} "
          f"drop={later['drop']:.3f}")  # fmt: skip


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def render_accuracy(args, contexts: list[Context], right, ttfts) -> str:
    lines = [
        "# SCBench-style evaluation — Qwen2.5-Coder-0.5B-Instruct on the CPU (torch engine, float32)",
        "",
        f"{len(contexts)} shared contexts of < {args.tokens:,} tokens ({args.contexts} per task), "
        f"{args.turns} questions each, "
        "greedy decoding. Sparse: this model's searched per-head patterns (kernels/configs) for the cold "
        "prefill, full KV cache after; drop: 64 sinks + 512-token window (StreamingLLM). Accuracy per turn "
        "(share of replies containing the answer); TTFT in seconds on 2 CPU cores.",
        "",
        "| turn | " + " | ".join(f"{m} multi-turn | {m} multi-request" for m in METHODS) + " |",
        "|---|" + "---|" * (2 * len(METHODS)),
    ]
    for turn in range(1, args.turns + 1):
        cells = [
            f"{mean(right[(m, mode, turn)]):.2f} ({statistics.median(ttfts[(m, mode, turn)]):.1f} s)"
            for m in METHODS
            for mode in ("multi_turn", "multi_request")
        ]
        lines.append(f"| {turn} | " + " | ".join(cells) + " |")
    lines += ["", "| task | " + " | ".join(f"{m} multi-turn | {m} multi-request" for m in METHODS) + " |",
              "|---|" + "---|" * (2 * len(METHODS))]  # fmt: skip
    for task in TASKS:
        cells = [f"{mean(right[(m, mode, task)]):.2f}" for m in METHODS for mode in ("multi_turn", "multi_request")]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def timing(args) -> None:
    engine = build_engine(EngineSettings(random_config="llama-3-8b", max_tokens=args.tokens + 4096, block_size=256,
                                         gpu_bytes=40 << 30, host_bytes=0, attention="dense"))  # fmt: skip
    searched = searched_patterns(engine.model.args.n_heads)
    rng = random.Random(args.seed)
    context = TASKS["kv"](rng, lambda text: len(text.encode()) < args.tokens - 400, args.turns)
    rows = {}
    for method in ("dense", "sparse"):
        for _ in range(2):  # the first pass compiles and autotunes the kernels for these shapes
            reset(engine, policy_for(method, searched, threshold=8192))
            times: dict[tuple, float] = {}

            def record(mode, turn, question, reply, ttft, cached, times=times):
                times[(mode, turn)] = ttft

            run_context(engine, context, 8, record)
            rows[method] = times
    lines = [
        f"# SCBench-style timing — {torch.cuda.get_device_name()}, 8B-class random bf16, context {args.tokens:,} bytes",
        "",
        "TTFT in seconds per turn (kv task, 8 answer tokens). Multi-turn: the context stays live; "
        "multi-request: each request restores the context's blocks from the GPU tier.",
        "",
        "| turn | dense multi-turn | dense multi-request | sparse multi-turn | sparse multi-request |",
        "|---|---|---|---|---|",
    ]
    for turn in range(1, args.turns + 1):
        cells = [
            f"{rows[m][(mode, turn)]:.3f}" for m in ("dense", "sparse") for mode in ("multi_turn", "multi_request")
        ]
        lines.append(f"| {turn} | " + " | ".join(cells) + " |")
    report = "\n".join(lines) + "\n"
    slug = torch.cuda.get_device_name().lower().replace("nvidia ", "").replace(" ", "-")
    (RESULTS / f"scbench-timing-{slug}.md").write_text(report)
    print(report)
    later = lambda m: mean(rows[m][("multi_turn", t)] for t in range(2, args.turns + 1))  # noqa: E731
    print(f"scbench_timing card={slug} ctx={args.tokens} turn1_dense_s={rows['dense'][('multi_turn', 1)]:.3f} "
          f"turn1_sparse_s={rows['sparse'][('multi_turn', 1)]:.3f} later_dense_s={later('dense'):.3f} "
          f"later_sparse_s={later('sparse'):.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timing", action="store_true", help="per-turn TTFT on the GPU (random 8B weights)")
    parser.add_argument("--tokens", type=int, default=None, help="context length (default 2048; 32768 timing)")
    parser.add_argument("--contexts", type=int, default=3, help="contexts per task")
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    args.tokens = args.tokens or (32768 if args.timing else 2048)
    torch.manual_seed(args.seed)
    timing(args) if args.timing else accuracy(args)


if __name__ == "__main__":
    main()
