"""Sparse prefill on a real model at long context (GPU): accuracy, length-aware budgets and speed.

    python -m bench.longctx calibrate --model M.gguf --tokenizer DIR --out DIR   # Q/K, search, rule, kernels
    python -m bench.longctx accuracy  --model M.gguf --tokenizer DIR --out DIR --lengths 8192,16384,32768
    python -m bench.longctx round2    --model M.gguf --tokenizer M.gguf --out DIR \
        --round2-lengths 65536,131072 --lengths 131072,65536 --tasks passkey,needles \
        --methods dense,sparse_default,sparse_last95,sparse_last80                  # last-rows search + all
    python -m bench.longctx render    --results DIR [--round2 DIR2]               # here: the report

The model is the packaged Qwen2.5-Coder-0.5B-Instruct GGUF (bench.upload_model brings it to the GPU
machine), run by our engine in bf16. 8K–32K run natively; 64K and 128K with YaRN (factor 4 over the
native 32K, as Qwen2.5 documents).

calibrate:
- captures Q/K/V of CAPTURE_LAYERS in one dense prefill of a key-value retrieval prompt (SCBench's
  Retr.KV, not one of the evaluated tasks) at each length: 4K, 8K, 16K, 32K natively, 16K, 32K, 64K and
  128K with YaRN;
- searches each head's pattern at each length (kernels.pattern_search, recall target 0.95) and fits
  the per-head scaling rule; checks the rule on a length it was not fitted on (32K native from 4K–16K,
  128K YaRN from 16K–64K) against the calibrated budgets as they are (exponent 0), a constant density
  (exponent 1) and MInference's default budgets;
- writes the configs (native: 4K–32K; YaRN: 16K–64K, each with its rule) and times the sparse core on
  the captured Q/K at 32K (native), 64K and 128K (YaRN) with default and searched budgets against
  cuDNN, with each layer's output error against dense.
accuracy: passkey, SCBench-style multi-needle over one shared context (multi-turn and multi-request),
and SCBench's Retr.KV, each with dense first; the other methods (sparse with MInference's default
budgets, sparse with the searched configs, StreamingLLM-style dropping) run only where dense answers
at least MIN_DENSE of a cell: where dense fails, the length says nothing about sparse. Every request's
first-token logits are compared with dense's on the same prompt (relative error, top-1 agreement).
round2: the search with a second target on the question's last LAST_ROWS rows (VARIANTS), at the accuracy
lengths with YaRN; the sparse core of default and each variant on the captured Q/K; then `accuracy` with
the given methods (sparse_<tag> runs a variant's configs), end to end first.
Results are JSON files under --out; `render` writes bench/results/longctx-<card>.md, whose last line is
the summary the issue asks for (with --round2, round 2's: speedups only of a config that kept accuracy).
"""

import argparse
import json
import math
import random
import statistics
import time
from pathlib import Path

import torch

from inference.torch_engine.attention import AttentionPolicy, SparsePrefill, StreamingDrop, dense_attend
from inference.torch_engine.engine import TorchEngine
from inference.torch_engine.kvtiers import TieredKVStore
from inference.torch_engine.model import ModelArgs
from inference.torch_engine.tokenizers import HFTokenizer
from inference.torch_engine.weights import fingerprint, from_hf, random_model
from kernels import pattern_search
from kernels.pattern_search import Calibration, Candidate, HeadChoice, ScalingRule

from .scbench.tasks import Context, kv_lookup, needles, passkey

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CONFIGS = ROOT / "kernels" / "configs"
MODEL_NAME = "qwen2.5-coder-0.5b-instruct"
CAPTURE_LAYERS = (0, 4, 9, 14, 19, 23)
NATIVE = 32768
YARN_FACTOR = 4.0
TARGET = 0.95
MIN_DENSE = 0.25  # below this share of right answers dense "fails" the cell: other methods are not run
METHODS = ("dense", "sparse_default", "sparse_searched", "drop")
DROP = StreamingDrop(sinks=64, window=4096)
SEED = 20261130
CONTEXTS = 0  # contexts per cell; 0: each task's own (TASKS), set by --contexts for smoke runs


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return float("nan"), float("nan")
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


# -- the engine --------------------------------------------------------------------------------------


# Qwen2.5-0.5B's shape, for smoke runs with random weights (--model random)
QWEN_05B = ModelArgs(vocab_size=151936, dim=896, n_layers=24, n_heads=14, n_kv_heads=2, intermediate_size=4864,
                     rope_theta=1_000_000.0, qkv_bias=True)  # fmt: skip


STASH = Path("/root/stash")  # the GPU machine's folder that outlives a call while the machine stays warm


def load_engine(model_path: Path, tokenizer_dir: Path, max_tokens: int, device: str) -> TorchEngine:
    """The engine over the model; on the GPU machine the converted model and tokenizer are kept in STASH, so
    that a second call of the same session skips the GGUF conversion (about 50 s)."""
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    started = time.perf_counter()
    cached = STASH / f"{Path(model_path).stem}-{str(dtype).removeprefix('torch.')}.pt"
    tokenizer_cache = STASH / f"{Path(tokenizer_dir).stem}-tokenizer"
    if str(model_path) == "random":
        model = random_model(QWEN_05B, dtype=dtype, device=device)
    elif cached.is_file():
        model = torch.load(cached, map_location=device, weights_only=False)
    else:
        model = from_hf(model_path, dtype=dtype, device=device)
        if STASH.is_dir():
            torch.save(model, cached)
    if tokenizer_cache.is_dir():
        tokenizer = HFTokenizer.from_path(tokenizer_cache)
    else:
        tokenizer = HFTokenizer.from_path(tokenizer_dir)
        if STASH.is_dir() and str(model_path) != "random":
            tokenizer.tokenizer.save_pretrained(tokenizer_cache)
    args = model.args
    store = TieredKVStore(
        model_id=fingerprint(model, str(model_path)), block_size=256,
        block_shape=(args.n_layers, args.n_kv_heads, 256, args.head_dim), dtype=dtype, device=device,
        gpu_bytes=max_tokens * model.kv_bytes_per_token() + (256 << 20), host_bytes=0, disk_dir=None, disk_bytes=0,
    )  # fmt: skip
    engine = TorchEngine(model, tokenizer, model_name=MODEL_NAME, max_tokens=max_tokens, store=store)
    log(f"model loaded in {time.perf_counter() - started:.1f} s: {args}")
    return engine


def set_rope(engine: TorchEngine, yarn: bool) -> str:
    """YaRN (factor 4 over the native window) or plain RoPE; the cache and the store start empty."""
    if bool(engine.model.args.yarn_factor) != yarn:
        engine.model.set_yarn(YARN_FACTOR if yarn else 0.0, NATIVE)
    reset(engine, engine.policy)
    return "yarn4" if yarn else "native"


def reset(engine: TorchEngine, policy: AttentionPolicy) -> None:
    engine.policy = policy
    engine.store.clear("gpu")
    engine.live = []


# SparsePrefill options (fused, slash_ranges) per config tag: "default", "" (round 1's searched), a variant's
PREFILL_OPTIONS: dict[str, dict] = {}


def policy_for(method: str, prefills: dict[str, SparsePrefill | None]) -> AttentionPolicy:
    """prefills: the searched SparsePrefill of each searched method (sparse_searched, sparse_<variant>)."""
    if method == "dense":
        return AttentionPolicy(mode="dense")
    if method == "drop":
        return AttentionPolicy(mode="drop", drop=DROP)
    sparse = SparsePrefill(**PREFILL_OPTIONS.get("default", {})) if method == "sparse_default" else prefills[method]
    return AttentionPolicy(mode="sparse", sparse_threshold=4096, sparse=sparse)


def chat_tokens(engine: TorchEngine, messages: list[dict]) -> list[int]:
    text, _ = engine.chat_prompt(messages)
    return engine.tokenize(text)


def ask(engine: TorchEngine, tokens: list[int], max_new: int) -> dict:
    """Greedy answer; the prompt's blocks are saved (multi-request restores them) after the first token."""
    sync()
    started = time.perf_counter()
    logits, cached, source = engine.prefill(tokens)
    sync()
    prefill_s = time.perf_counter() - started
    first = logits.float().clone()
    engine.store.save(tokens, engine.model.kv)
    generated: list[int] = []
    stop = engine.tokenizer.stop_ids
    for step in range(max_new):
        token = int(logits.argmax())
        if token in stop:
            break
        generated.append(token)
        if step == max_new - 1:
            break
        logits = engine._forward([token], len(engine.live))
    reply = engine.tokenizer.decode(generated)
    return {"reply": reply, "first": first, "prefill_s": prefill_s, "cached": cached, "source": source}


# -- calibration ---------------------------------------------------------------------------------------


class Capture:
    """An attend function that keeps chosen layers' Q, K and V (after RoPE) and attends densely."""

    def __init__(self, layers):
        self.layers, self.qkv = set(layers), {}

    def __call__(self, q, k, v, layer: int):
        if layer in self.layers:
            self.qkv[layer] = (q.clone(), k.clone(), v.clone())
        return dense_attend(q, k, v, layer)


def calibration_prompt(engine: TorchEngine, n: int, rng: random.Random) -> list[int]:
    chars_per_token = calibration_prompt.ratio
    context = kv_lookup(rng, lambda text: len(text) < (n - 120) * chars_per_token, 1)
    messages = [{"role": "user", "content": f"{context.text}\n\n{context.questions[0].text}"}]
    return chat_tokens(engine, messages)[:n]


calibration_prompt.ratio = 2.0  # chars per token of the JSON, measured in main


def capture(engine: TorchEngine, tokens: list[int]) -> dict[int, tuple]:
    catcher = Capture(CAPTURE_LAYERS)
    device = engine.device
    with torch.inference_mode():
        engine.model(torch.tensor([tokens], device=device), torch.arange(len(tokens), device=device), catcher,
                     last_only=True)  # fmt: skip
    engine.live = []
    return catcher.qkv


def search_layer(q, k, target: float = TARGET) -> list[HeadChoice]:
    return pattern_search.search(q.float(), k.float(), target)


def evaluate_choices(q, k, choices: list[HeadChoice]) -> list[tuple[float, float]]:
    """(recall, density) of given per-head choices on this Q/K."""
    group = q.shape[1] // k.shape[1]
    results = []
    for choice in choices:
        if choice.pattern == "dense":
            results.append((1.0, 1.0))
            continue
        (result,) = pattern_search.evaluate_head(
            q[0, choice.head].float(), k[0, choice.head // group].float(), [Candidate(choice.pattern, choice.params)]
        )
        results.append((result.recall, result.density))
    return results


def calibrate(engine: TorchEngine, out: Path, budget_s: float, plans: dict[str, list[int]]) -> dict:
    """plans: the calibration lengths of each rope setting ("native", "yarn4"); the last of each is the
    held-out length its rule is checked on (searched too for native, to compare)."""
    deadline = time.perf_counter() + budget_s
    rng = random.Random(SEED)
    holdout = {rope: max(lengths) for rope, lengths in plans.items()}
    searched: dict[str, dict[int, dict[int, list[HeadChoice]]]] = {"native": {}, "yarn4": {}}  # set → n → layer
    holdout_qkv: dict[str, dict] = {}
    timing_qkv: dict[int, dict] = {}
    report: dict = {"search_s": {}, "rules": {}, "holdout": {}, "kernels": [], "holdout_lengths": holdout}
    for rope, lengths in plans.items():
        for n in lengths:
            set_rope(engine, rope == "yarn4")
            started = time.perf_counter()
            qkv = capture(engine, calibration_prompt(engine, n, rng))
            sync()
            if n == holdout[rope]:
                holdout_qkv[rope] = qkv
            if (rope == "native" and n == holdout[rope]) or (rope == "yarn4" and n >= sorted(lengths)[-2]):
                timing_qkv[n] = qkv  # the kernels are timed at the native window and the two longest
            if n != holdout[rope] or rope == "native":  # the native holdout length is also calibrated
                searched[rope][n] = {layer: search_layer(q, k) for layer, (q, k, _) in qkv.items()}
            sync()
            report["search_s"][f"{rope}-{n}"] = time.perf_counter() - started
            log(f"calibration {rope} n={n}: captured and searched in {time.perf_counter() - started:.1f} s")
    configs = {}
    for rope in ("native", "yarn4"):
        lengths = sorted(searched[rope])
        fit_lengths = [n for n in lengths if n < holdout[rope]]
        for layer in CAPTURE_LAYERS:
            by_length = {n: searched[rope][n][layer] for n in lengths}
            fitted = {n: by_length[n] for n in fit_lengths}
            rule = pattern_search.fit_scaling(fitted)
            final_rule = pattern_search.fit_scaling(by_length)
            calibration = Calibration(
                by_length, TARGET, final_rule, f"bench.longctx calibrate, Retr.KV prompts, {rope}"
            )
            name = f"{MODEL_NAME}{'' if rope == 'native' else '-yarn4'}-layer{layer:02d}.json"
            configs[name] = calibration
            report["rules"][f"{rope}-layer{layer:02d}"] = list(final_rule.exponents)
            # the rule fitted without the holdout length, carried to it, against other rules
            q, k, _ = holdout_qkv[rope][layer]
            longest = max(fit_lengths)
            same_density = ScalingRule((1.0,) * len(rule.exponents))
            default = {"vertical": 1000, "slash": 6096}
            candidates = {
                "rule": [rule.carry(c, longest, holdout[rope]) for c in by_length[longest]],
                "absolute": by_length[longest],
                "same_density": [same_density.carry(c, longest, holdout[rope]) for c in by_length[longest]],
                "default": [HeadChoice(h, "vertical_slash", default, 0, 0) for h in range(q.shape[1])],
            }
            if rope == "native":
                candidates["searched_here"] = by_length[holdout[rope]]
            for name_, choices in candidates.items():
                values = evaluate_choices(q, k, choices)
                report["holdout"][f"{rope}-layer{layer:02d}-{name_}"] = {
                    "recall_mean": statistics.mean(r for r, _ in values), "recall_min": min(r for r, _ in values),
                    "density": statistics.mean(d for _, d in values),
                    "below_target": sum(r < TARGET for r, _ in values), "heads": len(values),
                }  # fmt: skip
        log(f"rules {rope}: fitted and checked on {holdout[rope]} tokens")
    holdout_qkv.clear()
    (out / "configs.json").write_text(json.dumps({name: calibration_document(c) for name, c in configs.items()}))
    stash = Path("/root/stash/configs")
    if stash.parent.is_dir():
        stash.mkdir(exist_ok=True)
        for name, calibration in configs.items():
            pattern_search.save_calibration(stash / name, calibration)
    (out / "calibrate.json").write_text(json.dumps(report, indent=1))
    if torch.cuda.is_available() and time.perf_counter() < deadline:
        report["kernels"] = time_real_attention(timing_qkv, configs, deadline)
    (out / "calibrate.json").write_text(json.dumps(report, indent=1))
    return report


def calibration_document(calibration: Calibration) -> dict:
    path = Path("/tmp/longctx-config.json")
    pattern_search.save_calibration(path, calibration)
    return json.loads(path.read_text())


def searched_prefill(configs: dict[str, Calibration], rope: str, tag: str = "") -> SparsePrefill | None:
    """The searched per-layer configs of this rope setting and search variant (tag "": round 1's row-averaged
    search); None when there are none: never the default."""
    prefix = f"{MODEL_NAME}{'' if rope == 'native' else '-yarn4'}{f'-{tag}' if tag else ''}-layer"
    layers = {int(name.rsplit("layer", 1)[1][:2]): calibration for name, calibration in configs.items()
              if name.startswith(prefix)}  # fmt: skip
    return SparsePrefill(layers, **PREFILL_OPTIONS.get(tag, {})) if layers else None


# sparse_<name> → a prefill built by the caller (a selection rule with no stored config), any length and rope
EXTRA_PREFILLS: dict[str, SparsePrefill] = {}


def searched_prefills(configs: dict[str, Calibration], rope: str, methods) -> dict[str, SparsePrefill | None]:
    """method → its searched prefill, for the searched methods among `methods` (None: no config)."""
    return {method: EXTRA_PREFILLS.get(method) or searched_prefill(configs, rope, method_tag(method))
            for method in methods if method not in ("dense", "drop", "sparse_default")}  # fmt: skip


def method_tag(method: str) -> str:
    """sparse_searched → "" (round 1's configs), sparse_<variant> → the variant's config tag."""
    return "" if method == "sparse_searched" else method.removeprefix("sparse_")


def time_real_attention(qkv_by_n: dict[int, dict], configs: dict[str, Calibration], deadline: float,
                        tags: tuple[str, ...] = ("",)) -> list[dict]:  # fmt: skip
    """The sparse core on the real model's Q/K/V, default and searched budgets (each tag's configs; "" is
    round 1's, named "searched"), against cuDNN (per layer)."""
    from bench.kernels import real_attention_rows

    rows = []
    for n, qkv in sorted(qkv_by_n.items()):
        methods: dict[str, SparsePrefill] = {"default": SparsePrefill()}
        for tag in tags:
            if searched := searched_prefill(configs, "yarn4" if n > NATIVE else "native", tag):
                methods[tag or "searched"] = searched
        rows += real_attention_rows({n: qkv}, methods, deadline)
        for name, prefill in methods.items():
            if prefill.refusals:
                log(f"kernels n={n}: the {name} config was refused at {prefill.refusals}")
    return rows


# -- round 2: a search that keeps the question's rows ---------------------------------------------------

LAST_ROWS = 128  # the question and the chat template's tail: the rows whose keys decide the answer
VARIANTS = {  # config tag: (recall target on all rows, recall target on the last LAST_ROWS rows)
    "last95": (0.95, 0.95),
    "last80": (0.80, 0.95),
}


def fitting_prompt(engine: TorchEngine, n: int, rng: random.Random) -> list[int]:
    """A Retr.KV prompt of at most n tokens that ends with its question (never cut off: the last rows are
    what the round-2 search measures)."""
    ratio = calibration_prompt.ratio
    while True:
        context = kv_lookup(rng, lambda text, ratio=ratio: len(text) < (n - 120) * ratio, 1)
        tokens = chat_tokens(engine, [{"role": "user", "content": f"{context.text}\n\n{context.questions[0].text}"}])
        if len(tokens) <= n:
            return tokens
        ratio *= 0.97 * n / len(tokens)


def calibrate_last_rows(
    engine: TorchEngine, out: Path, lengths: list[int], variants: dict, budget_s: float
) -> dict[str, Calibration]:
    """Round 2: per head, the cheapest pattern that keeps the target recall on all rows AND on the question's
    last LAST_ROWS rows, searched with YaRN at each of `lengths` (the accuracy lengths among them, so no
    scaling is needed there; the rule fitted over them carries the budgets further). One evaluation per
    head serves every variant and MInference's default (which is in the candidate grid). Times the sparse
    core of default and each variant on the captured Q/K of the two longest lengths against cuDNN."""
    deadline = time.perf_counter() + budget_s
    rng = random.Random(f"{SEED}-round2")
    by_variant: dict[str, dict[int, dict[int, list[HeadChoice]]]] = {tag: {} for tag in variants}
    report: dict = {"lengths": lengths, "last_rows": LAST_ROWS, "variants": {t: list(v) for t, v in variants.items()},
                    "search_s": {}, "recall": [], "kernels": []}  # fmt: skip
    timing_qkv: dict[int, dict] = {}
    default = {"vertical": 1000, "slash": 6096}
    for n in lengths:
        set_rope(engine, True)
        started = time.perf_counter()
        tokens = fitting_prompt(engine, n, rng)
        qkv = capture(engine, tokens)
        for layer, (q, k, _) in sorted(qkv.items()):
            evaluated = pattern_search.evaluate_layer(q.float(), k.float(), last_rows=LAST_ROWS)
            chosen = {"default": [next(c for c in heads if c.pattern == "vertical_slash" and c.params == default)
                                  for heads in evaluated]}  # fmt: skip
            for tag, (target, last_target) in variants.items():
                chosen[tag] = by_variant[tag].setdefault(n, {})[layer] = pattern_search.choose(
                    evaluated, target, last_target
                )
            for name, choices in chosen.items():
                report["recall"].append({
                    "n": n, "tokens": len(tokens), "layer": layer, "config": name,
                    "recall": statistics.mean(c.recall for c in choices),
                    "recall_last": statistics.mean(c.recall_last for c in choices),
                    "recall_last_min": min(c.recall_last for c in choices),
                    "density": statistics.mean(c.density for c in choices),
                    "patterns": {p: sum(c.pattern == p for c in choices) for p in {c.pattern for c in choices}},
                })  # fmt: skip
        if n in sorted(lengths)[-2:]:
            timing_qkv[n] = qkv
        sync()
        report["search_s"][str(n)] = time.perf_counter() - started
        log(f"round 2 calibration n={n} ({len(tokens)} tokens): captured and searched in "
            f"{report['search_s'][str(n)]:.1f} s")  # fmt: skip
    configs = {}
    for tag, (target, last_target) in variants.items():
        for layer in sorted(next(iter(by_variant[tag].values()))):  # the captured layers
            layer_lengths = {n: by_variant[tag][n][layer] for n in sorted(by_variant[tag])}
            rule = pattern_search.fit_scaling(layer_lengths) if len(layer_lengths) > 1 else None
            source = f"bench.longctx round2, Retr.KV prompts, yarn4, last {LAST_ROWS} rows >= {last_target}"
            calibration = Calibration(layer_lengths, target, rule, source, LAST_ROWS, last_target)
            configs[f"{MODEL_NAME}-yarn4-{tag}-layer{layer:02d}.json"] = calibration
    (out / "configs-round2.json").write_text(json.dumps({name: calibration_document(c) for name, c in configs.items()}))
    stash = Path("/root/stash/configs")
    if stash.parent.is_dir():
        stash.mkdir(exist_ok=True)
        for name, calibration in configs.items():
            pattern_search.save_calibration(stash / name, calibration)
    (out / "calibrate-round2.json").write_text(json.dumps(report, indent=1))
    if torch.cuda.is_available():
        report["kernels"] = time_real_attention(timing_qkv, configs, deadline, tuple(variants))
    (out / "calibrate-round2.json").write_text(json.dumps(report, indent=1))
    return configs


# -- accuracy ------------------------------------------------------------------------------------------


def make_contexts(engine: TorchEngine, task: str, n: int, count: int, rng: random.Random) -> list[Context]:
    def tokens_of(text: str) -> int:
        return len(engine.tokenize(text))

    body = n - 160  # the chat template, the question and the answer
    if task == "passkey":
        return [passkey(rng, body, tokens_of) for _ in range(count)]
    if task == "needles":
        return [needles(rng, body, tokens_of, 5) for _ in range(count)]
    sample = kv_lookup(random.Random(0), lambda text: len(text) < 8000, 1).text
    ratio = len(sample) / tokens_of(sample)
    return [kv_lookup(rng, lambda text: len(text) < body * ratio, 1) for _ in range(count)]


TASKS = {  # task: (contexts per cell, questions asked per context, answer tokens)
    "passkey": (20, 1, 8),
    "needles": (4, 5, 8),
    "kv": (20, 1, 30),
}


def run_cell(engine, task: str, contexts: list[Context], method: str, prefills, dense_first: dict | None) -> dict:
    """One (task, length, method) cell: every context, every question; multi-turn and multi-request for
    tasks with several questions. Returns hits, logits agreement with dense and prefill times."""
    _, _, max_new = TASKS[task]
    records = []
    for index, context in enumerate(contexts):
        reset(engine, policy_for(method, prefills))
        messages: list[dict] = []
        for turn, question in enumerate(context.questions, start=1):
            content = f"{context.text}\n\n{question.text}" if turn == 1 else question.text
            messages.append({"role": "user", "content": content})
            result = ask(engine, chat_tokens(engine, messages), max_new)
            messages.append({"role": "assistant", "content": result["reply"]})
            records.append(record(task, index, "multi_turn", turn, question.answer, result, dense_first))
        for turn, question in enumerate(context.questions[1:], start=2):  # the context restored, alone
            tokens = chat_tokens(engine, [{"role": "user", "content": f"{context.text}\n\n{question.text}"}])
            result = ask(engine, tokens, max_new)
            records.append(record(task, index, "multi_request", turn, question.answer, result, dense_first))
    return {"records": records}


def record(task, index, mode, turn, answer, result, dense_first: dict | None) -> dict:
    key = (index, mode, turn)
    row = {"context": index, "mode": mode, "turn": turn, "hit": answer.lower() in result["reply"].lower(),
           "reply": result["reply"][:80], "prefill_s": result["prefill_s"], "cached": result["cached"],
           "source": result["source"]}  # fmt: skip
    if dense_first is None:
        return row | {"first": result["first"]}
    dense = dense_first[key]
    row["logits_err"] = ((result["first"] - dense).norm() / dense.norm()).item()
    row["top1_same"] = int(result["first"].argmax()) == int(dense.argmax())
    return row


def accuracy(engine: TorchEngine, out: Path, lengths: list[int], tasks: list[str], budget_s: float,
             methods=METHODS, configs: dict[str, Calibration] | None = None) -> dict:  # fmt: skip
    """Every (task, length) cell, dense first, then the other `methods`; at the longest length past the
    native window, the end-to-end timing of the same methods first."""
    deadline = time.perf_counter() + budget_s
    configs = load_configs() | (configs or {})
    results: dict = {"cells": [], "e2e": {}, "methods": list(methods)}
    path = out / f"accuracy-{'-'.join(str(n) for n in lengths)}.json"
    failed_tasks: set[str] = set()  # dense failed at a shorter length: not run longer (passkey always runs)
    for n in lengths:
        rope = set_rope(engine, n > NATIVE)
        prefills = searched_prefills(configs, rope, methods)
        runnable = [m for m in methods if prefills.get(m, True) is not None]  # a searched method needs its config
        if n == max(lengths) and n > NATIVE:
            results["e2e"] = e2e(engine, n, prefills, runnable)
            path.write_text(json.dumps(results, indent=1))
        for task in tasks:
            if task in failed_tasks:
                results["cells"].append({"task": task, "n": n, "method": "dense", "skipped": "dense failed shorter"})
                continue
            count = CONTEXTS or TASKS[task][0]
            contexts = make_contexts(engine, task, n, count, random.Random(f"{SEED}-{task}-{n}"))
            dense_first = None
            for method in runnable:
                if time.perf_counter() > deadline:
                    results["cells"].append({"task": task, "n": n, "method": method, "skipped": "out of time"})
                    continue
                started = time.perf_counter()
                records = run_cell(engine, task, contexts, method, prefills, dense_first)["records"]
                if method == "dense":
                    dense_first = {(r["context"], r["mode"], r["turn"]): r.pop("first") for r in records}
                hits = sum(r["hit"] for r in records)
                tokens = len(chat_tokens(engine, [{"role": "user", "content": contexts[0].text}]))
                summary = {"task": task, "n": n, "method": method, "rope": rope, "samples": len(records), "hits": hits,
                           "tokens": tokens, "seconds": time.perf_counter() - started, "records": records}  # fmt: skip
                if method in prefills:
                    summary["refusals"] = len(prefills[method].refusals)
                results["cells"].append(summary)
                log(f"{task} n={n} {method}: {hits}/{len(records)} in {summary['seconds']:.1f} s")
                path.write_text(json.dumps(results, indent=1))
                if method == "dense" and hits < MIN_DENSE * len(records):
                    log(f"{task} n={n}: dense fails ({hits}/{len(records)}); other methods skipped")
                    results["cells"].append({"task": task, "n": n, "method": "others", "skipped": "dense fails"})
                    if task != "passkey":
                        failed_tasks.add(task)
                    break
    path.write_text(json.dumps(results, indent=1))
    return results


def e2e(engine: TorchEngine, n: int, prefills: dict, methods=METHODS, prompts: int = 3) -> dict:
    """Cold prefill time of each method on the same passkey prompts (after a warm-up), first-token logits
    against dense's, and the prefill with attention replaced by nothing (the ceiling)."""
    contexts = make_contexts(engine, "passkey", n, prompts, random.Random(f"{SEED}-e2e-{n}"))
    token_lists = [chat_tokens(engine, [{"role": "user", "content": f"{c.text}\n\n{c.questions[0].text}"}])
                   for c in contexts]  # fmt: skip
    report: dict = {"n": n, "tokens": len(token_lists[0])}
    dense_logits = []
    for method in methods:
        policy = policy_for(method, prefills)
        reset(engine, policy)
        engine.prefill(token_lists[0])  # warm-up: autotuning and plans for this length
        times, errors, same = [], [], []
        for index, tokens in enumerate(token_lists):
            reset(engine, policy)
            sync()
            started = time.perf_counter()
            logits = engine.prefill(tokens)[0].float()
            sync()
            times.append(time.perf_counter() - started)
            if method == "dense":
                dense_logits.append(logits)
            else:
                dense = dense_logits[index]
                errors.append(((logits - dense).norm() / dense.norm()).item())
                same.append(int(logits.argmax()) == int(dense.argmax()))
        report[method] = {"prefill_s": statistics.median(times), "logits_err": errors, "top1_same": same}
        log(f"e2e n={n} {method}: {statistics.median(times):.3f} s, logits err {errors}, top-1 same {same}")
    reset(engine, engine.policy)
    context = token_lists[0]
    no_attention(engine, context)
    report["no_attention_s"] = statistics.median(no_attention(engine, context) for _ in range(3))
    log(f"e2e n={n}: prefill without attention {report['no_attention_s']:.3f} s")
    engine.live = []
    return report


def no_attention(engine: TorchEngine, tokens: list[int]) -> float:
    """Seconds of a cold prefill with attention replaced by nothing: what sparse attention cannot remove."""
    device = engine.device
    sync()
    started = time.perf_counter()
    with torch.inference_mode():
        engine.model(torch.tensor([tokens], device=device), torch.arange(len(tokens), device=device),
                     lambda q, k, v, layer: q, last_only=True)  # fmt: skip
    sync()
    engine.live = []
    return time.perf_counter() - started


def load_configs() -> dict[str, Calibration]:
    """The committed configs, and over them those a calibration on this machine just wrote."""
    configs = {}
    for directory in (CONFIGS, Path("/root/stash/configs")):
        for path in sorted(directory.glob(f"{MODEL_NAME}*.json")):
            configs[path.name] = pattern_search.load_calibration(path)
    return configs


# -- report ---------------------------------------------------------------------------------------------


def render(results_dir: Path, round2_dir: Path | None = None) -> str:
    """Round 1's report; with round2_dir, round 2's section follows and its summary line ends the file."""
    calibrate_report = json.loads((results_dir / "calibrate.json").read_text())
    meta = json.loads((results_dir / "meta.json").read_text())
    cells = []
    e2e_documents = []
    for path in sorted(results_dir.glob("accuracy-*.json")):
        document = json.loads(path.read_text())
        cells += document["cells"]
        e2e_documents.append(document.get("e2e"))
    card = meta["card"]
    lines = [
        f"# Sparse prefill at long context on a real model — {card}",
        "",
        f"{meta['model']} (the packaged GGUF, SHA-256 {meta['sha256'][:12]}…, brought over by "
        f"bench.upload_model) in our torch engine, bf16; torch {meta['torch']}, Triton {meta['triton']}. "
        "8K–32K natively, 64K and 128K with YaRN (factor 4 over 32K). Methods: dense (cuDNN); sparse with "
        "MInference's default budgets (vertical-slash 1,000 / 6,096 on every head); sparse with the per-head "
        "configs searched on this model (kernels/configs, recall target 0.95; carried past their longest "
        "calibrated length by their scaling rule); StreamingLLM-style drop (64 sinks + 4,096-token window, "
        "prefill and decode). Sparse runs the cold prefill only; later turns attend to the full cache. "
        "Greedy decoding; a reply is right when it contains the answer. Intervals: 95% Wilson.",
        "",
        "## Accuracy (dense first)",
        "",
        "| task | tokens | dense | sparse, default | sparse, searched | drop | logits rel. err default / searched "
        "| top-1 same default / searched |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_key: dict[tuple, dict] = {}
    for cell in cells:
        by_key[(cell["task"], cell["n"], cell["method"])] = cell
    tasks = sorted({c["task"] for c in cells}, key=lambda t: list(TASKS).index(t))
    lengths = sorted({c["n"] for c in cells})

    def acc(cell, mode=None):
        if not cell or "skipped" in cell:
            return None
        records = [r for r in cell["records"] if mode is None or r["mode"] == mode]
        return sum(r["hit"] for r in records), len(records)

    def fmt(value) -> str:
        if value is None:
            return "–"
        hits, total = value
        low, high = wilson(hits, total)
        return f"{hits / total:.2f} [{low:.2f}, {high:.2f}] (n={total})"

    def gate(cell, key, fn, mode=None):
        if not cell or "skipped" in cell:
            return "–"
        values = [r[key] for r in cell["records"] if key in r and (mode is None or r["mode"] == mode)]
        return fn(values) if values else "–"

    for task in tasks:
        modes = [None] if task != "needles" else ["multi_turn", "multi_request"]
        for mode in modes:
            for n in lengths:
                row = [by_key.get((task, n, m)) for m in METHODS]
                if not row[0]:
                    continue
                label = task if mode is None else f"{task} ({mode.replace('_', '-')})"
                tokens = row[0].get("tokens", n)
                median = lambda v: f"{statistics.median(v):.3f}"  # noqa: E731
                errs = " / ".join(gate(c, "logits_err", median, mode) for c in row[1:3])
                tops = " / ".join(gate(c, "top1_same", lambda v: f"{sum(v)}/{len(v)}", mode) for c in row[1:3])
                skipped = next((c["skipped"] for c in (by_key.get((task, n, "others")),) if c), None)
                cells_text = [fmt(acc(c, mode)) for c in row]
                if "skipped" in row[0]:
                    cells_text = [f"not run ({row[0]['skipped']})"] + ["not run"] * 3
                elif skipped:
                    cells_text[1:] = [f"not run ({skipped})"] * 3
                lines.append(f"| {label} | {tokens:,} | " + " | ".join(cells_text) + f" | {errs} | {tops} |")

    # summary: passkey at the longest length where dense > 0.5
    def share(task, n, method):
        value = acc(by_key.get((task, n, method)))
        return None if value is None else value[0] / value[1]

    good = [n for n in lengths if (share("passkey", n, "dense") or 0) > 0.5]
    longest = max(good) if good else None
    lines += [
        "",
        "Logits columns: the first token's logits against dense's on the same prompt (median relative error; "
        "how many requests keep dense's top-1 token). A configuration that changes answers shows there.",
        "",
        "## Budgets that scale with length",
        "",
        "Per head, the cheapest pattern reaching recall 0.95 on the captured Q/K (Retr.KV prompts) at each "
        "length; the rule's exponent is the slope of log(tiles per query block) over log(n) (0: the same "
        "budgets at any length, 1: the same density). Checked on a length the rule was not fitted on:",
        "",
        "| set | held-out length | rule | mean recall | min recall | heads below 0.95 | mean density |",
        "|---|---|---|---|---|---|---|",
    ]
    holdout = calibrate_report["holdout"]
    for rope, n in calibrate_report.get("holdout_lengths", {"native": 32768, "yarn4": 131072}).items():
        for rule in ("searched_here", "rule", "absolute", "same_density", "default"):
            entries = [v for k, v in holdout.items() if k.startswith(f"{rope}-") and k.endswith(f"-{rule}")]
            if not entries:
                continue
            heads = sum(e["heads"] for e in entries)
            recall = sum(e["recall_mean"] * e["heads"] for e in entries) / heads
            density = sum(e["density"] * e["heads"] for e in entries) / heads
            lines.append(f"| {rope} | {n:,} | {rule.replace('_', ' ')} | {recall:.3f} "
                         f"| {min(e['recall_min'] for e in entries):.3f} "
                         f"| {sum(e['below_target'] for e in entries)}/{heads} | {density:.3f} |")  # fmt: skip
    exponents = [e for v in calibrate_report["rules"].values() for e in v]
    lines += [
        "",
        f"Fitted exponents over {len(exponents)} heads × layers: median {statistics.median(exponents):.2f}, "
        f"share at 0: {sum(e == 0 for e in exponents) / len(exponents):.0%}, "
        f"share at 1: {sum(e == 1 for e in exponents) / len(exponents):.0%}.",
    ]
    kernels = calibrate_report.get("kernels", [])
    attn_speedup = float("nan")
    if kernels:
        lines += [
            "",
            "## Sparse attention on the real Q/K (per layer; sparse includes its index building)",
            "",
            "| tokens | layer | cuDNN ms | default ms (×) | default rel. err | searched ms (×) | searched rel. err |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in kernels:
            lines.append(
                f"| {r['n']:,} | {r['layer']} | {r['cudnn_ms']:.2f} | {r['default_ms']:.2f} "
                f"({r['cudnn_ms'] / r['default_ms']:.2f}×) | {r['default_err']:.3f} | {r['searched_ms']:.2f} "
                f"({r['cudnn_ms'] / r['searched_ms']:.2f}×) | {r['searched_err']:.3f} |"
            )
        for n in sorted({r["n"] for r in kernels}):
            rows = [r for r in kernels if r["n"] == n]
            total = {key: sum(r[key] for r in rows) for key in ("cudnn_ms", "default_ms", "searched_ms")}
            lines.append(f"| {n:,} | all | {total['cudnn_ms']:.2f} | {total['default_ms']:.2f} "
                         f"({total['cudnn_ms'] / total['default_ms']:.2f}×) | | {total['searched_ms']:.2f} "
                         f"({total['cudnn_ms'] / total['searched_ms']:.2f}×) | |")  # fmt: skip
            if n == 131072:
                attn_speedup = total["cudnn_ms"] / total["searched_ms"]
    e2e_speedup = float("nan")
    e2e_reports = [document for document in e2e_documents if document]
    if e2e_reports:
        report = e2e_reports[-1]
        top = report["n"]
        lines += ["", f"## End to end at {top:,} tokens (cold prefill, median of passkey prompts after a warm-up)", "",
                  "| method | prefill s | × dense | first-token logits rel. err | top-1 same as dense |",
                  "|---|---|---|---|---|"]  # fmt: skip
        dense_s = report["dense"]["prefill_s"]
        for method in METHODS:
            if method not in report:
                continue
            entry = report[method]
            errors = ", ".join(f"{e:.3f}" for e in entry["logits_err"]) or "–"
            same = f"{sum(entry['top1_same'])}/{len(entry['top1_same'])}" if entry["top1_same"] else "–"
            changes = " **changes the answer**" if entry["top1_same"] and not all(entry["top1_same"]) else ""
            speedup = dense_s / entry["prefill_s"]
            lines.append(f"| {method.replace('_', ' ')} | {entry['prefill_s']:.3f} | {speedup:.2f}× | {errors} "
                         f"| {same}{changes} |")  # fmt: skip
        ceiling_x = dense_s / report["no_attention_s"]
        lines.append(f"| no attention (the ceiling) | {report['no_attention_s']:.3f} | {ceiling_x:.2f}× | | |")
        if "sparse_searched" in report:
            e2e_speedup = dense_s / report["sparse_searched"]["prefill_s"]
            lines += ["", f"Searched sparse reaches {e2e_speedup / ceiling_x:.0%} of the ceiling."]
    at = longest

    def summary_acc(method):
        value = share("passkey", at, method) if at else None
        return "nan" if value is None else f"{value:.2f}"

    lines += [
        "",
        f"Accuracies in the summary: passkey at {at:,} tokens, the longest length where dense is above 0.5."
        if at
        else "Dense is at or below 0.5 at every length: the summary's accuracies are nan.",
        "",
        f"longctx card={meta['slug']} model={MODEL_NAME} ctx={at or 0} dense_acc={summary_acc('dense')} "
        f"sparse_default_acc={summary_acc('sparse_default')} sparse_searched_acc={summary_acc('sparse_searched')} "
        f"drop_acc={summary_acc('drop')} attn_speedup_128k={attn_speedup:.2f} e2e_speedup_128k={e2e_speedup:.2f}",
    ]
    if round2_dir is not None:
        default_kept = all(
            keeps_accuracy(cell, by_key[(task, n, "dense")], mode)
            for (task, n, method), cell in by_key.items()
            if method == "sparse_default" and "skipped" not in cell
            for mode in ([None] if task != "needles" else ["multi_turn", "multi_request"])
        )
        default_e2e = e2e_reports[-1]["dense"]["prefill_s"] / e2e_reports[-1]["sparse_default"]["prefill_s"]
        rows = [r for r in kernels if r["n"] == 131072]
        round1 = {
            "drop_acc": share("passkey", at, "drop") if at else None,
            "default_acc": share("passkey", at, "sparse_default") if at else None,
            "default_kept": default_kept,
            "default_attn": sum(r["cudnn_ms"] for r in rows) / sum(r["default_ms"] for r in rows),
            "default_e2e": default_e2e,
        }
        lines = [*lines[:-1], f"Round 1's summary line (superseded by round 2's below): `{lines[-1]}`"]
        lines += render_round2(round2_dir, round1)
    return "\n".join(lines) + "\n"


def keeps_accuracy(cell: dict, dense: dict, mode: str | None = None) -> bool:
    """Within one sample interval of dense: the method's share is at least the lower end of dense's 95%
    Wilson interval on the same samples."""

    def hits(c):
        records = [r for r in c["records"] if mode is None or r["mode"] == mode]
        return sum(r["hit"] for r in records), len(records)

    dense_hits, total = hits(dense)
    own_hits, own_total = hits(cell)
    return own_total == total and own_hits / own_total >= wilson(dense_hits, total)[0]


def render_round2(results_dir: Path, round1: dict) -> list[str]:
    """Round 2's section: the last-rows search's recall, accuracy (dense first), real-Q/K kernel times and
    end to end, all from one run. The summary line quotes the speedups of a configuration that keeps dense's
    accuracy in every cell, measured in the same run as that accuracy: round 2's fastest such, else round 1's
    default budgets when they kept it there (round1: drop_acc, default_acc, default_kept, default_attn,
    default_e2e from round 1's report)."""
    calibration = json.loads((results_dir / "calibrate-round2.json").read_text())
    meta = json.loads((results_dir / "meta.json").read_text())
    cells, e2e_report, methods = [], None, ["dense"]
    for path in sorted(results_dir.glob("accuracy-*.json")):
        document = json.loads(path.read_text())
        cells += [c for c in document["cells"] if "skipped" not in c]
        e2e_report = document.get("e2e") or e2e_report
        methods = document.get("methods", methods)
    names = {m: m.removeprefix("sparse_").replace("_", " ") for m in methods}
    sparse_methods = [m for m in methods if m.startswith("sparse_")]
    lines = [
        "",
        f"## Round 2: a search that keeps the question's rows — {meta['card']}",
        "",
        f"Same model, engine and tasks; one run ({meta['torch']}, Triton {meta['triton']}). Round 1's searched "
        "configs lost answers because a recall averaged over all query rows can drop the few far keys the "
        f"question's rows need. Round 2 measures each candidate's recall on all rows (1,024 evenly spaced) and "
        f"on the last {calibration['last_rows']} rows alone (the question and the chat template's tail), and "
        "keeps the cheapest candidate meeting both targets: "
        + "; ".join(f"**{tag}**: all rows ≥ {t:.2f}, last rows ≥ {lt:.2f}"
                    for tag, (t, lt) in calibration["variants"].items())
        + ". Searched with YaRN on Retr.KV prompts (not an evaluated task) at "
        + ", ".join(f"{n:,}" for n in calibration["lengths"])
        + " tokens, so the accuracy lengths are calibrated ones; default is MInference's 1,000 / 6,096.",
        "",
        "### Recall of the searched configs (six captured layers, mean over heads)",
        "",
        "| tokens | config | recall, all rows | recall, last rows (min head) | density | patterns |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for n in calibration["lengths"]:
        for config in ["default", *calibration["variants"]]:
            rows = [r for r in calibration["recall"] if r["n"] == n and r["config"] == config]
            if not rows:
                continue
            patterns: dict[str, int] = {}
            for r in rows:
                for pattern, count in r["patterns"].items():
                    patterns[pattern] = patterns.get(pattern, 0) + count
            mix = ", ".join(f"{p.replace('_', '-')} {c}" for p, c in sorted(patterns.items()))
            lines.append(f"| {rows[0]['tokens']:,} | {config} | {statistics.mean(r['recall'] for r in rows):.3f} "
                         f"| {statistics.mean(r['recall_last'] for r in rows):.3f} "
                         f"({min(r['recall_last_min'] for r in rows):.3f}) "
                         f"| {statistics.mean(r['density'] for r in rows):.3f} | {mix} |")  # fmt: skip
    by_key = {(c["task"], c["n"], c["method"]): c for c in cells}
    lines += [
        "",
        "### Accuracy (dense first; ✗: below the lower end of dense's interval)",
        "",
        "| task | tokens | "
        + " | ".join(names[m] for m in methods)
        + " | logits rel. err "
        + " / ".join(names[m] for m in sparse_methods)
        + " | top-1 same "
        + " / ".join(names[m] for m in sparse_methods)
        + " |",
        "|---|---|" + "---|" * (len(methods) + 2),
    ]
    kept = {m: True for m in sparse_methods}
    tasks = sorted({c["task"] for c in cells}, key=lambda t: list(TASKS).index(t))
    for task in tasks:
        for mode in [None] if task != "needles" else ["multi_turn", "multi_request"]:
            for n in sorted({c["n"] for c in cells if c["task"] == task}):
                dense = by_key.get((task, n, "dense"))
                if not dense:
                    continue
                texts, errs, tops = [], [], []
                for method in methods:
                    cell = by_key.get((task, n, method))
                    if not cell:
                        texts.append("not run")
                        continue
                    records = [r for r in cell["records"] if mode is None or r["mode"] == mode]
                    hits = sum(r["hit"] for r in records)
                    low, high = wilson(hits, len(records))
                    text = f"{hits / len(records):.2f} [{low:.2f}, {high:.2f}] (n={len(records)})"
                    if method != "dense":
                        ok = keeps_accuracy(cell, dense, mode)
                        kept[method] &= ok
                        text += "" if ok else " ✗"
                        errs.append(f"{statistics.median(r['logits_err'] for r in records):.3f}")
                        tops.append(f"{sum(r['top1_same'] for r in records)}/{len(records)}")
                    texts.append(text)
                label = task if mode is None else f"{task} ({mode.replace('_', '-')})"
                lines.append(f"| {label} | {dense['tokens']:,} | " + " | ".join(texts)
                             + f" | {' / '.join(errs)} | {' / '.join(tops)} |")  # fmt: skip
    for method in sparse_methods:  # a method missing a cell has not shown that it keeps accuracy
        kept[method] &= all((task, n, method) in by_key for (task, n, m) in by_key if m == "dense")
    kernels = calibration.get("kernels", [])
    configs = [name for name in ["default", *calibration["variants"]] if kernels and f"{name}_ms" in kernels[0]]
    attn: dict[int, dict[str, float]] = {}
    if kernels:
        lines += [
            "",
            "### Sparse attention on the real Q/K (per layer; sparse includes its index building)",
            "",
            "| tokens | layer | cuDNN ms | " + " | ".join(f"{c} ms (×), rel. err" for c in configs) + " |",
            "|---|---|---|" + "---|" * len(configs),
        ]
        for r in kernels:
            lines.append(f"| {r['n']:,} | {r['layer']} | {r['cudnn_ms']:.2f} | " + " | ".join(
                f"{r[f'{c}_ms']:.2f} ({r['cudnn_ms'] / r[f'{c}_ms']:.2f}×), {r[f'{c}_err']:.3f}" for c in configs
            ) + " |")  # fmt: skip
        for n in sorted({r["n"] for r in kernels}):
            rows = [r for r in kernels if r["n"] == n]
            total = {key: sum(r[f"{key}_ms"] for r in rows) for key in ["cudnn", *configs]}
            attn[n] = {c: total["cudnn"] / total[c] for c in configs}
            lines.append(f"| {n:,} | all | {total['cudnn']:.2f} | " + " | ".join(
                f"{total[c]:.2f} ({attn[n][c]:.2f}×)" for c in configs) + " |")  # fmt: skip
    e2e_x: dict[str, float] = {}
    ceiling_x = float("nan")
    if e2e_report:
        dense_s = e2e_report["dense"]["prefill_s"]
        ceiling_x = dense_s / e2e_report["no_attention_s"]
        lines += ["", f"### End to end at {e2e_report['tokens']:,} tokens (cold prefill, median of 3 passkey prompts "
                  "after a warm-up)", "", "| method | prefill s | × dense | share of the ceiling "
                  "| first-token logits rel. err | top-1 same as dense |", "|---|---|---|---|---|---|"]  # fmt: skip
        for method in methods:
            if method not in e2e_report:
                continue
            entry = e2e_report[method]
            e2e_x[method] = dense_s / entry["prefill_s"]
            errors = ", ".join(f"{e:.3f}" for e in entry["logits_err"]) or "–"
            same = f"{sum(entry['top1_same'])}/{len(entry['top1_same'])}" if entry["top1_same"] else "–"
            lines.append(f"| {names[method]} | {entry['prefill_s']:.3f} | {e2e_x[method]:.2f}× "
                         f"| {e2e_x[method] / ceiling_x:.0%} | {errors} | {same} |")  # fmt: skip
        lines.append(f"| no attention (the ceiling) | {e2e_report['no_attention_s']:.3f} | {ceiling_x:.2f}× | | | |")
    top = max(attn) if attn else None

    def attn_of(method: str) -> float:
        return attn.get(top, {}).get(method.removeprefix("sparse_"), float("nan")) if top else float("nan")

    keeping = [m for m in sparse_methods if kept[m]]
    chosen = max(keeping, key=attn_of, default=None)
    searched = [m for m in sparse_methods if m != "sparse_default"]
    shown = chosen if chosen in searched else max(searched, key=lambda m: kept[m], default=None)
    dense_passkey = [c for (task, _, m), c in by_key.items() if task == "passkey" and m == "dense"]
    passkey_n = max((c["n"] for c in dense_passkey if c["hits"] > 0.5 * c["samples"]), default=None)

    def acc(method: str | None) -> str:
        cell = by_key.get(("passkey", passkey_n, method)) if method and passkey_n else None
        return "nan" if cell is None else f"{cell['hits'] / cell['samples']:.2f}"

    verdict = ", ".join(f"{names[m]} {'keeps' if kept[m] else 'does not keep'} it" for m in sparse_methods)
    attn_x, e2e_speed, default_acc = float("nan"), float("nan"), acc("sparse_default")
    speed = "none: no sparse configuration kept dense's accuracy in every cell"
    if chosen:
        at_top = f"{top:,} tokens" if top else "the longest length"
        speed = f"{names[chosen]} (the fastest at {at_top} of those that keep dense's accuracy in every cell)"
        attn_x, e2e_speed = attn_of(chosen), e2e_x.get(chosen, float("nan"))
    elif round1["default_kept"]:
        speed = (
            "MInference's default budgets, whose accuracy (within dense's interval in every cell) and speed were "
            "measured together in round 1; no round-2 configuration kept dense's accuracy in every cell"
        )
        attn_x, e2e_speed = round1["default_attn"], round1["default_e2e"]
        if default_acc == "nan" and round1["default_acc"] is not None:
            default_acc = f"{round1['default_acc']:.2f}"
    drop_acc = round1["drop_acc"]
    lines += [
        "",
        f"Within one interval of dense in every cell: {verdict}. Speedups in the summary line: {speed}. "
        f"sparse_searched_acc is {names[shown] if shown else '–'}'s; accuracies are passkey at "
        f"{passkey_n or 0:,} tokens; drop_acc{'' if 'sparse_default' in methods else ' and sparse_default_acc'} "
        "are round 1's (not re-run).",
        "",
        f"longctx card={meta['slug']} model={MODEL_NAME} ctx={passkey_n or 0} dense_acc={acc('dense')} "
        f"sparse_default_acc={default_acc} sparse_searched_acc={acc(shown)} "
        f"drop_acc={'nan' if drop_acc is None else f'{drop_acc:.2f}'} "
        f"attn_speedup_128k={attn_x:.2f} e2e_speedup_128k={e2e_speed:.2f}",
    ]
    return lines


def main() -> None:
    global NATIVE, CONTEXTS, MIN_DENSE
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=["calibrate", "accuracy", "all", "round2", "render"])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--tokenizer", type=Path)
    parser.add_argument("--out", type=Path, default=Path("longctx-results"))
    parser.add_argument("--results", type=Path, help="render: the directory of JSON results")
    parser.add_argument("--lengths", default="8192,16384,32768,65536,131072")
    parser.add_argument("--tasks", default="passkey,needles,kv")
    parser.add_argument("--budget-s", type=float, default=500.0, help="stop starting new work after this")
    parser.add_argument("--calibrate-budget-s", type=float, default=300.0)
    parser.add_argument("--calib-native", default="4096,8192,16384,32768", help="the last is held out")
    parser.add_argument("--calib-yarn", default="16384,32768,65536,131072", help="the last is held out")
    parser.add_argument("--contexts", type=int, default=0, help="contexts per cell (smoke runs; 0: the defaults)")
    parser.add_argument("--min-dense", type=float, default=MIN_DENSE, help="smoke runs: 0 runs every method")
    parser.add_argument("--native", type=int, default=NATIVE, help="the model's native window (YaRN past it)")
    parser.add_argument("--max-tokens", type=int, default=131072 + 512)
    parser.add_argument("--methods", default=",".join(METHODS), help="dense first; sparse_<tag>: a round-2 variant")
    parser.add_argument("--round2-lengths", default="32768,65536,131072", help="round 2's search lengths (YaRN)")
    parser.add_argument("--round2", type=Path, help="render: round 2's JSON results")
    args = parser.parse_args()
    NATIVE, CONTEXTS, MIN_DENSE = args.native, args.contexts, args.min_dense
    if args.phase == "render":
        report = render(args.results, args.round2)
        meta = json.loads((args.results / "meta.json").read_text())
        (RESULTS / f"longctx-{meta['slug']}.md").write_text(report)
        print(report)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    engine = load_engine(args.model, args.tokenizer, args.max_tokens, device)
    sample = kv_lookup(random.Random(0), lambda text: len(text) < 8000, 1).text
    calibration_prompt.ratio = len(sample) / len(engine.tokenize(sample))
    card = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    import triton

    from bench.upload_model import sha256_of

    digest = "random weights" if str(args.model) == "random" else sha256_of(args.model)
    meta = {"card": card, "slug": card.lower().replace("nvidia ", "").replace(" ", "-"), "model": MODEL_NAME,
            "sha256": digest, "torch": torch.__version__, "triton": triton.__version__}  # fmt: skip
    (args.out / "meta.json").write_text(json.dumps(meta))
    started = time.perf_counter()
    if args.phase in ("calibrate", "all"):
        plans = {"native": [int(n) for n in args.calib_native.split(",")],
                 "yarn4": [int(n) for n in args.calib_yarn.split(",")]}  # fmt: skip
        calibrate(engine, args.out, args.calibrate_budget_s, plans)
    configs = None
    if args.phase == "round2":
        lengths = [int(n) for n in args.round2_lengths.split(",")]
        configs = calibrate_last_rows(engine, args.out, lengths, VARIANTS, args.calibrate_budget_s)
    if args.phase in ("accuracy", "all", "round2"):
        lengths = [int(n) for n in args.lengths.split(",")]
        left = args.budget_s - (time.perf_counter() - started)
        methods = args.methods.split(",")
        assert methods[0] == "dense", "dense runs first: the other methods are compared with it"
        accuracy(engine, args.out, lengths, args.tasks.split(","), left, methods, configs)
    engine.close()


if __name__ == "__main__":
    main()
