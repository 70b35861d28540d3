"""Round 4 of bench.longctx (GPU): a faster sparse core on the real model's Q/K at 128K, and the accuracy of
the selections it runs, dense beside them.

    python -m bench.longctx_round4 synthetic --out DIR                                     # GPU, no model
    python -m bench.longctx_round4 kernels  --model M.gguf --tokenizer M.gguf --out DIR    # GPU, after the upload
    python -m bench.longctx_round4 accuracy --model M.gguf --tokenizer M.gguf --out DIR    # GPU, same machine
    python -m bench.longctx_round4 render   --results DIR                                  # here: the report

The core four ways over the same selections (WAYS): round 3's (every tile causally masked, one scheduled launch per
layer), edge (only a list's first and last block masked: the others lie below the diagonal; the scale folded into
the exponent), edge in grid order, and wide (128-row query tiles over the union of two 64-row blocks' lists: a
superset of the keys, each K/V tile feeding twice the rows). synthetic: each way on random Q/K of the model's shape
at 128K with MInference's default budgets (a check of the kernels on the card before the upload). kernels: round
2's 128K Retr.KV prompt captured again (six layers), cuDNN against MInference's default budgets and the committed
searched configs (last95, and the per-row targets rows90 / rows80 / rows70), each way: time, output error against
cuDNN and the tiles computed. Writes each config's faster way (modes.json, also to the stash) for `accuracy`.
confirm (a later session, the model uploaded again): multi-needle at 128K on 10 contexts for dense and the
configs near the gate.
accuracy: at 128K (YaRN), end to end, then passkey (20 prompts) and multi-needle (5 contexts: 20 later
questions per mode) for dense and each config the way `kernels` found faster, until the budget runs out.
"""

import argparse
import json
import random
import time
from pathlib import Path

import torch

from bench import longctx
from bench.longctx import MODEL_NAME, SEED, STASH, log
from inference.torch_engine.attention import SparsePrefill, pattern_lists
from kernels import antidiagonal_select as select
from kernels import sparse_attention as core
from kernels.pattern_search import Calibration

CONFIG_TAGS = ("last95", "rows90", "rows80", "rows70")
WAYS = {  # name: (SparsePrefill options, the core's module settings over CORE_DEFAULTS)
    "round3": ({"fused": True}, {"EDGE_MASK": False}),  # every tile causally masked: round 3's core
    "edge": ({"fused": True}, {}),
    "edge_natural": ({"fused": True, "schedule": "natural"}, {}),
    "wide": ({"wide": True}, {}),
}
SYNTHETIC_WAYS = WAYS | {"edge_pairs": ({"fused": True}, {"KEY_PAIRS": True})}  # the last session: synthetic only
# rounds 4-5 compare against round 4's core: no register cap (0), not the engine's default by head dim (None)
CORE_DEFAULTS = {"EDGE_MASK": True, "KEY_PAIRS": False, "INTERIOR": "plain", "REGISTER_CAP": 0}
SELECT_DEFAULTS = {  # kernels.antidiagonal_select's: the engine's
    "SELECT": "cut", "MASS_TILE": 128, "POOLED_EMPTY": True, "MASS_PEEL": True, "MASS_FP8": False,
}  # fmt: skip
PICKABLE = ("edge", "edge_natural", "wide")  # the ways `accuracy` may run a config
ACCURACY_ORDER = ("rows90", "rows70", "rows80", "default")  # last95 lost needles in rounds 2 and 3
DEFAULT_BUDGETS = {"vertical": 1000, "slash": 6096}


def committed(tag: str) -> dict[int, Calibration]:
    prefix = f"{MODEL_NAME}-yarn4-{tag}-layer"
    return {int(name.removeprefix(prefix)[:2]): c for name, c in longctx.load_configs().items()
            if name.startswith(prefix)}  # fmt: skip


def tile_counts(prefill: SparsePrefill, q: torch.Tensor, k: torch.Tensor, layer: int) -> dict:
    """64×64 tiles each way computes for this layer (dense heads: every causal tile), and the causal total."""
    from kernels.index_convert import pair_lists
    from kernels.reference import BLOCK
    from kernels.sparse_prefill import stack_lists

    heads, n = q.shape[1], q.shape[2]
    group = heads // k.shape[1]
    qblocks = -(-n // BLOCK)
    causal_head = qblocks * (qblocks + 1) // 2
    groups = prefill.heads_by_pattern(layer, heads, n)
    pieces = []
    for pattern, members in groups.items():
        if pattern == "dense":
            continue
        ids = [c.head for c in members]
        pieces.append(pattern_lists(pattern, [c.params for c in members], q[:, ids], k[:, [h // group for h in ids]]))
    dense_tiles = len(groups.get("dense", [])) * causal_head
    if not pieces:
        return {"tiles_64": dense_tiles, "tiles_wide": dense_tiles, "tiles_causal": heads * causal_head}
    lists = stack_lists(pieces)
    narrow = int(lists[1].sum() + ((lists[3] + BLOCK - 1) // BLOCK).sum())
    pairs = pair_lists(*lists)
    wide = 2 * int(pairs[1].sum() + ((pairs[3] + BLOCK - 1) // BLOCK).sum())
    return {"tiles_64": narrow + dense_tiles, "tiles_wide": wide + dense_tiles, "tiles_causal": heads * causal_head}


def set_core(settings: dict) -> None:
    """The sparse core's module settings (CORE_DEFAULTS, the engine's) and the antidiagonal selection's
    (SELECT_DEFAULTS) with `settings` over them."""
    for name, value in (CORE_DEFAULTS | SELECT_DEFAULTS | settings).items():
        setattr(select if name in SELECT_DEFAULTS else core, name, value)


def run_way(way: str, patterns, q, k, v, layer: int, ways: dict = SYNTHETIC_WAYS):
    options, settings = ways[way]
    set_core(settings)
    prefill = SparsePrefill(patterns, **options)
    return prefill, lambda: prefill(q, k, v, layer)


def time_ways(qkv: dict, configs: dict, n: int, ways: dict = WAYS, baseline: str = "round3") -> list[dict]:
    """Per layer: cuDNN, and each config run each way (ms, error against cuDNN and against the baseline way,
    tiles)."""
    from bench.kernels import cudnn_causal, rel_err, timed

    rows = []
    for layer, (q, k, v) in sorted(qkv.items()):
        cudnn = cudnn_causal(q, k, v)
        reference = cudnn()
        row: dict = {"n": n, "tokens": q.shape[2], "layer": layer, "cudnn_ms": timed(cudnn, False)}
        for name, patterns in configs.items():
            outputs = {}
            for way in ways:
                prefill, call = run_way(way, patterns, q, k, v, layer, ways)
                outputs[way] = call()
                row[f"{name}_{way}_err"] = rel_err(outputs[way], reference)
                row[f"{name}_{way}_ms"] = timed(call, False)
            for way in ways:
                if way != baseline:
                    row[f"{name}_{way}_vs_{baseline}"] = rel_err(outputs[way], outputs[baseline])
            row.update({f"{name}_{key}": value for key, value in tile_counts(prefill, q, k, layer).items()})
        set_core({})
        rows.append(row)
        shown = ", ".join(f"{key} {value:.3g}" for key, value in row.items() if key.endswith(("_ms", "_err")))
        print(f"round 4 n={n} layer {layer}: {shown}", flush=True)
        del cudnn, reference
    return rows


def best_configs() -> dict:
    kernels = {"sparse": core._sparse_attention_kernel, "scheduled": core._scheduled_kernel, "wide": core._wide_kernel}
    return {name: str(getattr(kernel, "best_config", None)) for name, kernel in kernels.items()}


def synthetic_phase(out: Path, n: int = 131072) -> dict:
    """Random Q/K/V of the model's attention shape (14 heads, 2 KV heads, d 64) with a RoPE-like decay planted,
    MInference's default budgets: each way, against cuDNN."""
    torch.manual_seed(SEED)
    heads, kv_heads, dim = 14, 2, 64
    positions = torch.arange(n, device="cuda", dtype=torch.float32)
    freqs = 1.0 / (500000.0 ** (torch.arange(0, dim, 2, device="cuda", dtype=torch.float32) / dim))
    angles = positions[:, None] * freqs[None, :]
    rope = torch.cat([angles.cos(), angles.sin()], -1)

    def tensor(h):
        return (torch.randn(1, h, n, dim, device="cuda") * 0.5 + rope * 2).to(torch.bfloat16)

    qkv = {0: (tensor(heads), tensor(kv_heads), torch.randn(1, kv_heads, n, dim, device="cuda", dtype=torch.bfloat16))}
    report = {"n": n, "timing": time_ways(qkv, {"default": None}, n, SYNTHETIC_WAYS), "best_configs": best_configs()}
    (out / "synthetic-round4.json").write_text(json.dumps(report, indent=1))
    return report


def capture_round2_prompt(engine, n: int = 131072) -> tuple[list[int], dict]:
    """Round 2's 128K Retr.KV prompt (YaRN) and the Q/K/V of its six captured layers."""
    rng = random.Random(f"{SEED}-round2")  # round 2's prompts, drawn in round 2's order
    longctx.set_rope(engine, True)
    longctx.fitting_prompt(engine, 65536, rng)
    tokens = longctx.fitting_prompt(engine, n, rng)
    return tokens, longctx.capture(engine, tokens)


def kernels_phase(engine, out: Path, n: int = 131072) -> dict:
    tokens, qkv = capture_round2_prompt(engine, n)
    configs = {"default": None} | {tag: committed(tag) for tag in CONFIG_TAGS}
    report: dict = {"n": n, "tokens": len(tokens), "ways": {w: {"options": o, "core": c} for w, (o, c) in WAYS.items()}}
    report["timing"] = time_ways(qkv, configs, n)
    report["best_configs"] = best_configs()
    modes = {}
    for name in configs:
        totals = {way: sum(r[f"{name}_{way}_ms"] for r in report["timing"]) for way in PICKABLE}
        modes[name] = min(totals, key=totals.get)
    report["modes"] = modes
    (out / "kernels-round4.json").write_text(json.dumps(report, indent=1))
    if STASH.is_dir():
        (STASH / "round4-modes.json").write_text(json.dumps(modes))
    return report


def accuracy_phase(engine, out: Path, budget_s: float, n: int = 131072) -> dict:
    path = STASH / "round4-modes.json"
    modes = json.loads(path.read_text()) if path.is_file() else {tag: "edge" for tag in ACCURACY_ORDER}
    longctx.TASKS["needles"] = (5, 5, 8)  # 20 later questions per mode (turns 2-5 of 5 contexts)
    longctx.PREFILL_OPTIONS.update({tag: WAYS[way][0] for tag, way in modes.items()})
    methods = ["dense"] + [f"sparse_{tag}" for tag in ACCURACY_ORDER]
    results = longctx.accuracy(engine, out, [n], ["passkey", "needles"], budget_s, methods)
    (out / "modes.json").write_text(json.dumps(modes))
    return results


def confirm_phase(engine, out: Path, budget_s: float, n: int = 131072) -> dict:
    """More multi-needle samples for the configs near the gate: 10 contexts (40 later questions per mode), the
    first 5 being `accuracy`'s (a determinism check), the last 5 new; no end-to-end timing."""
    longctx.TASKS["needles"] = (10, 5, 8)
    longctx.PREFILL_OPTIONS.update(
        {"rows80": WAYS["edge_natural"][0], "rows90": WAYS["edge"][0], "default": WAYS["edge_natural"][0]}
    )  # the ways `kernels` picked (modes.json)
    longctx.e2e = lambda *args, **kwargs: {}
    methods = ["dense", "sparse_rows80", "sparse_default", "sparse_rows90"]
    results = longctx.accuracy(engine, out, [n], ["needles"], budget_s, methods)
    (out / "accuracy-131072.json").rename(out / "confirm-131072.json")
    return results


def round_parser(doc: str, phases: list[str], number: int, budget_s: float) -> argparse.ArgumentParser:
    """The command line every round's script shares: a phase, the model, where results go, the budget."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=[*phases, "render"])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--tokenizer", type=Path)
    parser.add_argument("--out", type=Path, default=Path(f"longctx-round{number}"))
    parser.add_argument("--results", type=Path, help=f"render: the round-{number} JSON results")
    parser.add_argument("--budget-s", type=float, default=budget_s)
    return parser


def write_meta(out: Path, phase: str) -> None:
    """meta-<phase>.json: the card, the model and the versions a phase ran with."""
    import triton

    out.mkdir(parents=True, exist_ok=True)
    card = torch.cuda.get_device_name()
    meta = {"card": card, "slug": card.lower().replace("nvidia ", "").replace(" ", "-"), "model": MODEL_NAME,
            "torch": torch.__version__, "triton": triton.__version__}  # fmt: skip
    (out / f"meta-{phase}.json").write_text(json.dumps(meta))


def load_engine_128k(model: Path, tokenizer: Path):
    """The model on the GPU for prompts up to 128K (YaRN past 32K), with the calibration prompts' ratio set."""
    longctx.NATIVE = 32768
    engine = longctx.load_engine(model, tokenizer, 131072 + 512, "cuda")
    sample = longctx.kv_lookup(random.Random(0), lambda text: len(text) < 8000, 1).text
    longctx.calibration_prompt.ratio = len(sample) / len(engine.tokenize(sample))
    return engine


def main() -> None:
    args = round_parser(__doc__, ["synthetic", "kernels", "accuracy", "confirm"], 4, 420.0).parse_args()
    if args.phase == "render":
        from bench.longctx_round4_report import write_report

        print(write_report(args.results))
        return
    write_meta(args.out, args.phase)
    if args.phase == "synthetic":
        started = time.perf_counter()
        synthetic_phase(args.out)
        log(f"synthetic in {time.perf_counter() - started:.1f} s")
        return
    engine = load_engine_128k(args.model, args.tokenizer)
    if args.phase == "kernels":
        kernels_phase(engine, args.out)
    elif args.phase == "confirm":
        confirm_phase(engine, args.out, args.budget_s)
    else:
        accuracy_phase(engine, args.out, args.budget_s)
    engine.close()


if __name__ == "__main__":
    main()
