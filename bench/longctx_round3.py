"""Round 3 of bench.longctx (GPU): the sparse core's levers on the real model's Q/K at 128K with the same
selections, a search target on every query row, and each configuration's accuracy beside dense in one run.

    python -m bench.longctx_round3 kernels  --model M.gguf --tokenizer M.gguf --out DIR   # GPU, first
    python -m bench.longctx_round3 accuracy --model M.gguf --tokenizer M.gguf --out DIR   # GPU, same machine
    python -m bench.longctx_round3 render   --results DIR                                 # here: the report

kernels: captures Q/K/V of the six layers with YaRN on round 2's Retr.KV prompts (its seed: the same prompts)
at 64K and 128K and searches the row-target variants (ROW_VARIANTS: mean and last rows >= 0.95 as round 2's
last95, and every evaluation row's own recall >= 0.9 / 0.8 / 0.7) over one evaluation per head. Then at 128K,
per layer: cuDNN against MInference's default budgets, round 2's last95 configs (committed) and the row variant
picked for accuracy (the strictest whose density is at most the default's), each run three ways (WAYS): one
launch per pattern (round 2's path), one scheduled launch for all sparse heads (`fused`: the same keys), and
unaligned slash ranges (fewer keys); each output's error against cuDNN and against round 2's path. Also the
default's stage times and tile counts per layer. Writes which way is faster per config (modes.json, also to
the stash) for `accuracy`.
accuracy: at 128K (YaRN), end to end first, then passkey (20 prompts) and multi-needle (5 contexts: 20 later
questions per mode) for dense, the default budgets, last95 and the row variant, each sparse config run the way
`kernels` found faster.
"""

import json
import random
import statistics
import time
from pathlib import Path

import torch

from bench import longctx
from bench.longctx import CAPTURE_LAYERS, LAST_ROWS, MODEL_NAME, SEED, STASH, log
from bench.longctx_round4 import round_parser
from inference.torch_engine.attention import SparsePrefill
from kernels import pattern_search
from kernels.pattern_search import Calibration, HeadChoice

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LENGTHS = (65536, 131072)
ROW_VARIANTS = {  # tag: (mean recall target, last rows' target, every row's target)
    "rows90": (0.95, 0.95, 0.90),
    "rows80": (0.95, 0.95, 0.80),
    "rows70": (0.95, 0.95, 0.70),
}
WAYS = {"per_pattern": {"fused": False}, "fused": {"fused": True}, "ranges": {"fused": True, "slash_ranges": True}}
# the second call's ways (`levers`): round 2's path, the scheduled launch in both orders, ranges walked 128 keys a step
LEVERS = {
    "per_pattern": {"fused": False},
    "fused": {"fused": True},
    "fused_natural": {"fused": True, "schedule": "natural"},
    "ranges_natural": {"fused": True, "slash_ranges": True, "schedule": "natural"},
    "ranges128": {"fused": True, "slash_ranges": True, "schedule": "natural", "range_block": 128},
}
DEFAULT_BUDGETS = {"vertical": 1000, "slash": 6096}


def committed_last95() -> dict[int, Calibration]:
    configs = longctx.load_configs()
    prefix = f"{MODEL_NAME}-yarn4-last95-layer"
    return {int(name.removeprefix(prefix)[:2]): c for name, c in configs.items() if name.startswith(prefix)}


def search_variants(engine, lengths) -> tuple[dict, dict, dict]:
    """(report rows, {tag: {n: {layer: choices}}}, the Q/K/V captured at the longest length)."""
    rng = random.Random(f"{SEED}-round2")  # round 2's prompts, in round 2's order of lengths
    last95 = committed_last95()
    by_variant: dict[str, dict[int, dict[int, list[HeadChoice]]]] = {tag: {} for tag in ROW_VARIANTS}
    rows, timing_qkv = [], {}
    for n in lengths:
        longctx.set_rope(engine, True)
        started = time.perf_counter()
        tokens = longctx.fitting_prompt(engine, n, rng)
        qkv = longctx.capture(engine, tokens)
        for layer, (q, k, _) in sorted(qkv.items()):
            evaluated = pattern_search.evaluate_layer(q.float(), k.float(), last_rows=LAST_ROWS)
            default = [next(c for c in heads if c.pattern == "vertical_slash" and c.params == DEFAULT_BUDGETS)
                       for heads in evaluated]  # fmt: skip
            fresh = pattern_search.choose(evaluated, 0.95, 0.95)
            committed = last95[layer].by_length.get(n, [])
            same = [(c.pattern, c.params) for c in fresh] == [(c.pattern, c.params) for c in committed]
            chosen = {"default": default, "last95": fresh}
            for tag, (target, last_target, row_target) in ROW_VARIANTS.items():
                chosen[tag] = pattern_search.choose(evaluated, target, last_target, row_target)
                by_variant[tag].setdefault(n, {})[layer] = chosen[tag]
            for name, choices in chosen.items():
                evaluated_choice = [next((e for e in heads if e.pattern == c.pattern and e.params == c.params), c)
                                    for heads, c in zip(evaluated, choices, strict=True)]  # fmt: skip
                rows.append({
                    "n": n, "tokens": len(tokens), "layer": layer, "config": name,
                    "recall": statistics.mean(c.recall for c in evaluated_choice),
                    "recall_last": statistics.mean(c.recall_last for c in evaluated_choice),
                    "row_min": min(c.recall_row_min for c in evaluated_choice),
                    "row_min_mean": statistics.mean(c.recall_row_min for c in evaluated_choice),
                    "density": statistics.mean(c.density for c in choices),
                    "patterns": {p: sum(c.pattern == p for c in choices) for p in {c.pattern for c in choices}},
                    "same_as_committed": same if name == "last95" else None,
                })  # fmt: skip
        if n == max(lengths):
            timing_qkv = qkv
        longctx.sync()
        log(f"round 3 search n={n} ({len(tokens)} tokens) in {time.perf_counter() - started:.1f} s")
    return rows, by_variant, timing_qkv


def pick_variant(rows: list[dict], n: int) -> str:
    """The strictest row variant whose mean density at n is at most the default budgets' (else the loosest)."""

    def density(config: str) -> float:
        return statistics.mean(r["density"] for r in rows if r["n"] == n and r["config"] == config)

    fitting = [tag for tag in ROW_VARIANTS if density(tag) <= density("default")]
    return fitting[0] if fitting else list(ROW_VARIANTS)[-1]


def variant_configs(by_variant: dict) -> dict[str, Calibration]:
    configs = {}
    for tag, (target, last_target, row_target) in ROW_VARIANTS.items():
        for layer in CAPTURE_LAYERS:
            lengths = {n: by_variant[tag][n][layer] for n in sorted(by_variant[tag])}
            rule = pattern_search.fit_scaling(lengths) if len(lengths) > 1 else None
            source = (f"bench.longctx_round3, Retr.KV prompts, yarn4, mean >= {target}, last {LAST_ROWS} rows >= "
                      f"{last_target}, every row >= {row_target}")  # fmt: skip
            calibration = Calibration(lengths, target, rule, source, LAST_ROWS, last_target, row_target)
            configs[f"{MODEL_NAME}-yarn4-{tag}-layer{layer:02d}.json"] = calibration
    return configs


def time_ways(qkv: dict, configs: dict[str, dict | None], n: int, ways: dict = WAYS) -> list[dict]:
    """Per layer: cuDNN, and each config run each way (ms, error against cuDNN and against round 2's path)."""
    from bench.kernels import cudnn_causal, rel_err, timed

    rows = []
    for layer, (q, k, v) in sorted(qkv.items()):
        cudnn = cudnn_causal(q, k, v)
        reference = cudnn()
        row: dict = {"n": n, "tokens": q.shape[2], "layer": layer, "cudnn_ms": timed(cudnn, False)}
        for name, patterns in configs.items():
            old = None
            for way, options in ways.items():
                prefill = SparsePrefill(patterns, **options)
                output = prefill(q, k, v, layer)
                row[f"{name}_{way}_err"] = rel_err(output, reference)
                if old is None:
                    old = output
                else:
                    row[f"{name}_{way}_vs_old"] = rel_err(output, old)
                row[f"{name}_{way}_ms"] = timed(lambda p=prefill, q=q, k=k, v=v, layer=layer: p(q, k, v, layer), False)
        rows.append(row)
        shown = ", ".join(f"{key} {value:.3g}" for key, value in row.items() if key.endswith(("_ms", "_old")))
        print(f"round 3 n={n} layer {layer}: {shown}", flush=True)
        del cudnn, reference
    return rows


def stages(qkv: dict, n: int) -> list[dict]:
    """MInference's default budgets on every head: each stage's time and the tiles each conversion lists."""
    rows = []
    for layer, (q, k, v) in sorted(qkv.items()):
        row = {"n": n, "layer": layer, **stage_times(q, k, v)}
        rows.append(row)
        print(f"round 3 stages n={n} layer {layer}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()), flush=True)
    return rows


def stage_times(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> dict:
    from bench.kernels import timed
    from kernels.index_convert import convert_vertical_slash, convert_vertical_slash_ranges
    from kernels.reference import BLOCK
    from kernels.sparse_attention import scheduled_sparse_attention, sparse_attention
    from kernels.vs_index import select_indices, vertical_slash_scores

    heads, tokens = q.shape[1], q.shape[2]
    vertical_budget, slash_budget = (torch.full((heads,), DEFAULT_BUDGETS[key], device=q.device)
                                     for key in ("vertical", "slash"))  # fmt: skip
    scores = vertical_slash_scores(q, k)
    indices = select_indices(*scores, vertical_budget, slash_budget)
    lists = convert_vertical_slash(tokens, *indices)
    lo, hi, count, columns, column_count = convert_vertical_slash_ranges(tokens, *indices)
    ids = torch.arange(heads, device=q.device)
    out = torch.empty_like(q)
    listed = torch.arange(lo.shape[-1], device=q.device) < count[..., None]
    qblocks = -(-tokens // BLOCK)
    column_tiles = ((column_count + BLOCK - 1) // BLOCK).sum()
    return {
        "estimate_ms": timed(lambda: vertical_slash_scores(q, k), False),
        "select_ms": timed(lambda: select_indices(*scores, vertical_budget, slash_budget), False),
        "convert_ms": timed(lambda: convert_vertical_slash(tokens, *indices), False),
        "convert_ranges_ms": timed(lambda: convert_vertical_slash_ranges(tokens, *indices), False),
        "attention_ms": timed(lambda: sparse_attention(q, k, v, *lists), False),
        "scheduled_ms": timed(lambda: scheduled_sparse_attention(q, k, v, ids, *lists, out=out), False),
        "ranges_ms": timed(
            lambda: scheduled_sparse_attention(q, k, v, ids, lo, count, columns, column_count, hi, out=out), False
        ),
        "tiles_aligned": int(lists[1].sum() + ((lists[3] + BLOCK - 1) // BLOCK).sum()),
        "tiles_ranges": int((((hi - lo + BLOCK) // BLOCK) * listed).sum() + column_tiles),
        "tiles_causal": heads * qblocks * (qblocks + 1) // 2,
    }


def kernels_phase(engine, out: Path, lengths=LENGTHS) -> dict:
    report: dict = {"lengths": list(lengths), "last_rows": LAST_ROWS, "variants": ROW_VARIANTS, "ways": list(WAYS)}
    report["recall"], by_variant, qkv = search_variants(engine, lengths)
    top = max(lengths)
    report["picked"] = pick_variant(report["recall"], top)
    configs = variant_configs(by_variant)
    (out / "configs-round3.json").write_text(
        json.dumps({name: longctx.calibration_document(c) for name, c in configs.items()})
    )
    if STASH.is_dir():
        (STASH / "configs").mkdir(exist_ok=True)
        for name, calibration in configs.items():
            pattern_search.save_calibration(STASH / "configs" / name, calibration)
    (out / "kernels-round3.json").write_text(json.dumps(report, indent=1))
    picked = {int(name.rsplit("layer", 1)[1][:2]): c for name, c in configs.items() if f"-{report['picked']}-" in name}
    timed_configs = {"default": None, "last95": committed_last95(), report["picked"]: picked}
    report["timing"] = time_ways(qkv, timed_configs, top)
    (out / "kernels-round3.json").write_text(json.dumps(report, indent=1))
    report["stages"] = stages(qkv, top)
    report["modes"] = {}
    for name in timed_configs:
        totals = {way: sum(r[f"{name}_{way}_ms"] for r in report["timing"]) for way in ("fused", "ranges")}
        report["modes"][name] = min(totals, key=totals.get)
    modes = {"picked": report["picked"], "ways": report["modes"]}
    (out / "modes.json").write_text(json.dumps(modes))
    if STASH.is_dir():
        (STASH / "round3-modes.json").write_text(json.dumps(modes))
    (out / "kernels-round3.json").write_text(json.dumps(report, indent=1))
    return report


def levers_phase(engine, out: Path, n: int = 131072) -> dict:
    """The second call: round 2's 128K prompt again (its 64K prompt drawn first, as round 2 did), its Q/K/V, and
    the committed default / last95 / rows90 selections timed each way of LEVERS."""
    rng = random.Random(f"{SEED}-round2")
    longctx.set_rope(engine, True)
    longctx.fitting_prompt(engine, 65536, rng)
    tokens = longctx.fitting_prompt(engine, n, rng)
    qkv = longctx.capture(engine, tokens)
    configs = longctx.load_configs()
    rows90 = {int(name.rsplit("layer", 1)[1][:2]): c for name, c in configs.items() if "-yarn4-rows90-" in name}
    report = {"n": n, "tokens": len(tokens), "ways": LEVERS}
    report["timing"] = time_ways(qkv, {"default": None, "last95": committed_last95(), "rows90": rows90}, n, LEVERS)
    (out / "levers-round3.json").write_text(json.dumps(report, indent=1))
    return report


def accuracy_phase(engine, out: Path, budget_s: float, n: int = 131072) -> dict:
    path = STASH / "round3-modes.json"
    fallback = {"picked": "rows80", "ways": {"default": "fused", "last95": "fused", "rows80": "fused"}}
    modes = json.loads(path.read_text()) if path.is_file() else fallback  # `kernels` did not finish: same keys
    picked = modes["picked"]
    longctx.TASKS["needles"] = (5, 5, 8)  # 20 later questions per mode (turns 2-5 of 5 contexts)
    longctx.PREFILL_OPTIONS.update({tag: WAYS[way] for tag, way in modes["ways"].items()})
    methods = ["dense", "sparse_default", "sparse_last95", f"sparse_{picked}"]
    results = longctx.accuracy(engine, out, [n], ["passkey", "needles"], budget_s, methods)
    (out / "modes.json").write_text(json.dumps(modes))
    return results


def main() -> None:
    args = round_parser(__doc__, ["kernels", "accuracy", "levers"], 3, 420.0).parse_args()
    if args.phase == "render":
        from bench.longctx_round3_report import write_report

        print(write_report(args.results))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    longctx.NATIVE = 32768
    engine = longctx.load_engine(args.model, args.tokenizer, 131072 + 512, "cuda")
    sample = longctx.kv_lookup(random.Random(0), lambda text: len(text) < 8000, 1).text
    longctx.calibration_prompt.ratio = len(sample) / len(engine.tokenize(sample))
    import triton

    card = torch.cuda.get_device_name()
    meta = {"card": card, "slug": card.lower().replace("nvidia ", "").replace(" ", "-"), "model": MODEL_NAME,
            "torch": torch.__version__, "triton": triton.__version__}  # fmt: skip
    (args.out / "meta.json").write_text(json.dumps(meta))
    if args.phase == "kernels":
        kernels_phase(engine, args.out)
    elif args.phase == "levers":
        levers_phase(engine, args.out)
    else:
        accuracy_phase(engine, args.out, args.budget_s)
    engine.close()


if __name__ == "__main__":
    main()
