"""Round 5 of bench.longctx (GPU): the sparse core's interior loop walked other ways, on the real model's Q/K at
128K with MInference's default budgets (the configuration that keeps dense's accuracy), and the accuracy and end
to end time of the fastest way.

    python -m bench.longctx_round5 kernels  --model M.gguf --tokenizer M.gguf --out DIR    # GPU, after the upload
    python -m bench.longctx_round5 accuracy --model M.gguf --tokenizer M.gguf --out DIR    # GPU, same machine
    python -m bench.longctx_round5 render   --results DIR                                  # here: the report

kernels: round 2's 128K Retr.KV prompt captured again (six layers, as rounds 2-4); cuDNN against the same
selections run each way of WAYS: round 4's core as `accuracy` ran it (edge mask, grid order, the plain loop),
the same under a register cap of 128 (four programs an SM instead of three), the next tile's QK^T issued before
this tile's softmax (uncapped: two programs an SM; capped at 168: three), the lazy rescale, and both. Writes the
fastest way (modes.json, also to the stash) for `accuracy`.
accuracy: at 128K (YaRN), end to end, then passkey (20 prompts) and multi-needle on 10 contexts for dense and the
default budgets on the fastest way.
"""

import argparse
import json
from pathlib import Path

from bench import longctx
from bench.longctx import STASH
from bench.longctx_round4 import (
    best_configs,
    capture_round2_prompt,
    load_engine_128k,
    set_core,
    time_ways,
    write_meta,
)

GRID = {"fused": True, "schedule": "natural"}
WAYS = {  # name: (SparsePrefill options, the core's settings over round 4's CORE_DEFAULTS)
    "plain": (GRID, {}),  # round 4's core, as its accuracy phase ran the default budgets
    "plain_cap128": (GRID, {"REGISTER_CAP": 128}),
    "pipelined": (GRID, {"INTERIOR": "pipelined"}),
    "pipelined_cap168": (GRID, {"INTERIOR": "pipelined", "REGISTER_CAP": 168}),
    "lazy": (GRID, {"INTERIOR": "lazy"}),
    "pipelined_lazy_cap168": (GRID, {"INTERIOR": "pipelined_lazy", "REGISTER_CAP": 168}),
}
BASELINE = "plain"


def kernels_phase(engine, out: Path, n: int = 131072) -> dict:
    tokens, qkv = capture_round2_prompt(engine, n)
    report: dict = {"n": n, "tokens": len(tokens), "ways": {w: {"options": o, "core": c} for w, (o, c) in WAYS.items()}}
    report["timing"] = time_ways(qkv, {"default": None}, n, WAYS, BASELINE)
    report["best_configs"] = best_configs()
    totals = {way: sum(r[f"default_{way}_ms"] for r in report["timing"]) for way in WAYS}
    report["fastest"] = min(totals, key=totals.get)
    (out / "kernels-round5.json").write_text(json.dumps(report, indent=1))
    if STASH.is_dir():
        (STASH / "round5-fastest.json").write_text(json.dumps(report["fastest"]))
    cudnn = sum(r["cudnn_ms"] for r in report["timing"])
    print(f"\n| way | six layers ms | × cuDNN ({cudnn:.1f} ms) | × {BASELINE} | max error vs {BASELINE} |")
    print("|---|---|---|---|---|")
    for way, total in totals.items():
        err = max((r.get(f"default_{way}_vs_{BASELINE}", 0.0) for r in report["timing"]), default=0.0)
        print(f"| {way} | {total:.1f} | {cudnn / total:.2f}× | {totals[BASELINE] / total:.3f}× | {err:.2e} |")
    return report


def accuracy_phase(engine, out: Path, budget_s: float, n: int = 131072) -> dict:
    path = STASH / "round5-fastest.json"
    fastest = json.loads(path.read_text()) if path.is_file() else BASELINE
    options, settings = WAYS[fastest]
    set_core(settings)  # dense runs on cuDNN: the settings touch only the sparse method
    longctx.TASKS["needles"] = (10, 5, 8)  # 40 later questions per mode, as round 4's confirmation
    longctx.PREFILL_OPTIONS["default"] = options
    results = longctx.accuracy(engine, out, [n], ["passkey", "needles"], budget_s, ["dense", "sparse_default"])
    (out / "modes.json").write_text(json.dumps({"default": fastest}))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=["kernels", "accuracy", "render"])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--tokenizer", type=Path)
    parser.add_argument("--out", type=Path, default=Path("longctx-round5"))
    parser.add_argument("--results", type=Path, help="render: the round-5 JSON results")
    parser.add_argument("--budget-s", type=float, default=480.0)
    args = parser.parse_args()
    if args.phase == "render":
        from bench.longctx_round5_report import write_report

        print(write_report(args.results))
        return
    write_meta(args.out, args.phase)
    engine = load_engine_128k(args.model, args.tokenizer)
    if args.phase == "kernels":
        kernels_phase(engine, args.out)
    else:
        accuracy_phase(engine, args.out, args.budget_s)
    engine.close()


if __name__ == "__main__":
    main()
