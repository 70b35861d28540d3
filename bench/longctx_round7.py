"""Round 7 of bench.longctx (GPU): every accuracy of the summary line measured again on the current code, beside
dense in the same calls, and three tries at a cheaper antidiagonal selection.

    python -m bench.longctx_round7 kernels  --model M.gguf --tokenizer M.gguf --out DIR        # GPU, after the upload
    python -m bench.longctx_round7 accuracy --tasks passkey --model M.gguf ... --out DIR     # GPU, same machine
    python -m bench.longctx_round7 accuracy --tasks needles --model M.gguf ... --out DIR     # GPU, same machine
    python -m bench.longctx_round7 render   --results DIR                                    # here: the report

kernels: round 2's 128K Retr.KV prompt (not an evaluated task) captured in all 24 layers. Per-head thresholds
(PERHEAD_RULE, fixed before the run): each head's attention output error against cuDNN at thresholds 0.7, 0.8 and
0.9 on that prompt; a head takes the lowest of 0.7 and 0.8 whose error stays within its layer's median head error
at 0.9, else 0.9 (a head whose mass concentrates loses little when its tail goes). Then on the six captured layers
(as rounds 2-6), beside cuDNN: antidiagonal 0.9 round 6's way (the pass's buffers zeroed, the own key tile scored
twice) and this round's (buffers left unset where no program writes, the own tile scored once), the pass with Q
and K in float8, the per-head thresholds, MInference's default budgets and the searched rows90 configs; the pass
alone each way, and how many rows' block sets float8 keeps.
accuracy: at 128K (YaRN), dense first, then METHODS (the summary line's: MInference's default budgets, the
searched rows90 configs, StreamingLLM-style dropping, antidiagonal 0.9 — the engine's default selection — and the
two tries); with --tasks passkey the end to end of every method first. Every sparse method runs the engine's
current defaults (the core's register cap by head dim, mass tile 128, the cut).
"""

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch

from bench import longctx
from bench.longctx import STASH
from bench.longctx_round4 import capture_round2_prompt, committed, load_engine_128k, round_parser, time_ways, write_meta
from bench.longctx_round5 import GRID, STRIDE, antidiagonal_patterns
from inference.torch_engine.attention import SparsePrefill
from kernels import antidiagonal_select as select
from kernels.pattern_search import HeadChoice
from kernels.reference import block_list_coverage

LAYERS, HEADS = 24, 14
SIX = longctx.CAPTURE_LAYERS
ENGINE = {"REGISTER_CAP": None}  # the core as the engine runs it (round 4's set_core would uncap it)
WAYS = {  # name: (SparsePrefill options, module settings over round 4's CORE_DEFAULTS | SELECT_DEFAULTS)
    "r6": (GRID, ENGINE | {"POOLED_EMPTY": False, "MASS_PEEL": False}),  # round 6's pass
    "r7": (GRID, ENGINE),  # this round's defaults
    "fp8": (GRID, ENGINE | {"MASS_FP8": True}),
}
CANDIDATES = (0.7, 0.8)  # per-head thresholds below the default's 0.9
LOW_CANDIDATES = (0.5, 0.6, 0.7, 0.8)  # the `more` phase's second rule: the same bound, lower thresholds allowed
DEFAULT_THRESHOLD = 0.9
PERHEAD_RULE = (
    "per head, the lowest of 0.7 and 0.8 whose output error against cuDNN on the kernels' Retr.KV prompt at 128K "
    "is at most its layer's median head error at 0.9; else 0.9"
)
METHODS = ("dense", "sparse_default", "sparse_rows90", "drop", "sparse_antidiag90", "sparse_perhead",
           "sparse_antidiag90_fp8")  # fmt: skip


@dataclass
class Float8Mass(SparsePrefill):
    """A SparsePrefill whose antidiagonal pass runs in float8 (select.MASS_FP8 only while it attends)."""

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layer: int) -> torch.Tensor:
        before, select.MASS_FP8 = select.MASS_FP8, True
        try:
            return super().__call__(q, k, v, layer)
        finally:
            select.MASS_FP8 = before


def per_head_patterns(thresholds: dict[int, list[float]], stride: int = STRIDE) -> dict[int, list[HeadChoice]]:
    return {layer: [HeadChoice(head=h, pattern="antidiagonal", params={"threshold": t, "stride": stride},
                               recall=1.0, density=1.0) for h, t in enumerate(values)]
            for layer, values in thresholds.items()}  # fmt: skip


def head_errors(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layer: int,
                candidates: tuple[float, ...] = CANDIDATES) -> dict[str, list[float]]:  # fmt: skip
    """Each head's relative output error against cuDNN at each threshold (the engine's selection and core)."""
    from bench.kernels import cudnn_causal

    dense = cudnn_causal(q, k, v)().float()
    norms = dense.norm(dim=(-2, -1))[0]
    errors = {}
    for threshold in (*candidates, DEFAULT_THRESHOLD):
        out = SparsePrefill(antidiagonal_patterns(threshold), **GRID)(q, k, v, layer).float()
        errors[str(threshold)] = ((out - dense).norm(dim=(-2, -1))[0] / norms).tolist()
        del out
    return errors


def pick_thresholds(errors: dict[str, list[float]], candidates: tuple[float, ...] = CANDIDATES) -> list[float]:
    """PERHEAD_RULE for one layer (over `candidates`)."""
    bound = statistics.median(errors[str(DEFAULT_THRESHOLD)])
    picks = []
    for head in range(len(errors[str(DEFAULT_THRESHOLD)])):
        fits = [t for t in candidates if errors[str(t)][head] <= bound]
        picks.append(min(fits) if fits else DEFAULT_THRESHOLD)
    return picks


def calibrate_heads(engine, n: int, candidates: tuple[float, ...] = CANDIDATES) -> tuple[list[int], dict, dict]:
    """All 24 layers' per-head errors and picks on the Retr.KV prompt; returns the tokens, the six layers' Q/K/V
    and the calibration (errors, thresholds; with candidates beyond CANDIDATES also low_thresholds over them)."""
    longctx.CAPTURE_LAYERS = tuple(range(LAYERS))
    try:
        tokens, qkv = capture_round2_prompt(engine, n)
    finally:
        longctx.CAPTURE_LAYERS = SIX
    errors, thresholds, low = {}, {}, {}
    for layer in range(LAYERS):
        errors[layer] = head_errors(*qkv[layer], layer, candidates)
        thresholds[layer] = pick_thresholds(errors[layer])
        low[layer] = pick_thresholds(errors[layer], candidates)
        print(f"layer {layer}: thresholds {thresholds[layer]}, over {candidates}: {low[layer]}", flush=True)
        if layer not in SIX:
            del qkv[layer]
    torch.cuda.empty_cache()
    calibration = {"rule": PERHEAD_RULE, "errors": errors, "thresholds": thresholds}
    return tokens, qkv, calibration | ({"low_thresholds": low} if candidates != CANDIDATES else {})


def pass_row(q: torch.Tensor, k: torch.Tensor, layer: int) -> dict:
    """The antidiagonal pass alone each way (ms), and the rows whose 0.9 block sets float8 keeps."""
    from bench.kernels import timed
    from bench.longctx_round4 import set_core

    row: dict = {"layer": layer}
    threshold = q.new_full((q.shape[1],), DEFAULT_THRESHOLD, dtype=torch.float32)
    sets = {}
    for way, (_, settings) in WAYS.items():
        set_core(settings)
        row[f"pass_{way}_ms"] = timed(lambda: list(select._pooled_chunks(q, k, STRIDE, select.MASS_TILE,
                                                                         not select.POOLED_EMPTY)), False)  # fmt: skip
        row[f"select_{way}_ms"] = timed(lambda: select.antidiagonal_blocks(q, k, threshold, STRIDE), False)
        lists = select.antidiagonal_blocks(q, k, threshold, STRIDE)
        sets[way] = block_list_coverage(q.shape[2], *lists)
        row[f"tiles_{way}"] = int(lists[1].sum())
    set_core({})
    for way in ("r7", "fp8"):
        row[f"same_rows_{way}"] = (sets[way] == sets["r6"]).all(-1).float().mean().item()
    print(f"pass layer {layer}: {row}", flush=True)
    return row


def kernels_phase(engine, out: Path, n: int = 131072) -> dict:
    tokens, qkv, calibration = calibrate_heads(engine, n)
    (out / "perhead.json").write_text(json.dumps(calibration, indent=1))
    if STASH.is_dir():
        (STASH / "round7-perhead.json").write_text(json.dumps(calibration))
    report: dict = {"n": n, "tokens": len(tokens), "ways": {w: {"options": o, "settings": s}
                                                            for w, (o, s) in WAYS.items()}}  # fmt: skip
    report["passes"] = [pass_row(q, k, layer) for layer, (q, k, _) in sorted(qkv.items())]
    perhead = per_head_patterns({int(layer): t for layer, t in calibration["thresholds"].items()})
    # (configs, ways): each run's rows merged into the first's; r7 last, since round 4's tile_counts counts the
    # lists with the last way's settings
    runs = [
        ({"antidiag90": antidiagonal_patterns(DEFAULT_THRESHOLD)}, ("r6", "fp8", "r7")),
        ({"perhead": perhead}, ("fp8", "r7")),
        ({"default": None, "rows90": committed("rows90")}, ("r7",)),
    ]
    rows: list[dict] = []
    for configs, ways in runs:
        timed_rows = time_ways(qkv, configs, n, {w: WAYS[w] for w in ways}, ways[0])
        rows = timed_rows if not rows else [a | b for a, b in zip(rows, timed_rows, strict=True)]
        report["timing"] = rows
        (out / "kernels-round7.json").write_text(json.dumps(report, indent=1))
    print_summary(report)
    return report


def print_summary(report: dict) -> None:
    rows = report["timing"]
    cudnn = sum(r["cudnn_ms"] for r in rows)
    print(f"\n| config | way | density | six layers ms | × cuDNN ({cudnn:.1f} ms) | median error vs cuDNN |")
    for key in [k.removesuffix("_ms") for k in rows[0] if k.endswith("_ms") and k != "cudnn_ms"]:
        config, way = key.split("_", 1)
        density = sum(r[f"{config}_tiles_64"] for r in rows) / sum(r[f"{config}_tiles_causal"] for r in rows)
        total = sum(r[f"{key}_ms"] for r in rows)
        err = statistics.median(r[f"{key}_err"] for r in rows)
        print(f"| {config} | {way} | {density:.3f} | {total:.1f} | {cudnn / total:.2f}× | {err:.4f} |")
    passes = report["passes"]
    if not passes:
        return
    print("pass alone, six layers (ms): " + ", ".join(f"{w} {sum(r[f'pass_{w}_ms'] for r in passes):.1f}"
                                                      for w in WAYS))  # fmt: skip
    print("rows with round 6's sets: " + ", ".join(f"{w} {min(r[f'same_rows_{w}'] for r in passes):.5f}"
                                                   for w in ("r7", "fp8")))  # fmt: skip


def accuracy_phase(engine, out: Path, budget_s: float, tasks: list[str], n: int = 131072) -> dict:
    path = STASH / "round7-perhead.json"
    calibration = json.loads(path.read_text() if path.is_file() else (out / "perhead.json").read_text())
    thresholds = {int(layer): t for layer, t in calibration["thresholds"].items()}
    longctx.TASKS["needles"] = (10, 5, 8)  # 40 later questions per mode, as rounds 4-6
    longctx.PREFILL_OPTIONS["rows90"] = {"fused": True}  # round 4's way for rows90 (its `edge`)
    longctx.EXTRA_PREFILLS.update({
        "sparse_antidiag90": SparsePrefill(antidiagonal_patterns(DEFAULT_THRESHOLD), **GRID),
        "sparse_perhead": SparsePrefill(per_head_patterns(thresholds), **GRID),
        "sparse_antidiag90_fp8": Float8Mass(antidiagonal_patterns(DEFAULT_THRESHOLD), **GRID),
    })  # fmt: skip
    if "passkey" not in tasks:  # the end to end runs once, in the passkey call
        longctx.e2e = lambda *args, **kwargs: {}
    results = longctx.accuracy(engine, out, [n], tasks, budget_s, list(METHODS))
    (out / f"accuracy-{n}.json").rename(out / f"{'-'.join(tasks)}-{n}.json")
    return results


MORE_METHODS = ("dense", "sparse_perhead_low", "sparse_perhead_s32")


def more_phase(engine, out: Path, budget_s: float, n: int = 131072) -> dict:
    """A second machine, after the first's results: two more ways to cut tiles or the pass, each timed beside cuDNN
    and run on the accuracy tasks beside dense in the same call. perhead_low: PERHEAD_RULE over LOW_CANDIDATES;
    perhead_s32: the round's per-head thresholds with stride 32 (the pass reads half the bytes: it is bound by its
    loads, not its products — the float8 pass was only 9% faster)."""
    tokens, qkv, calibration = calibrate_heads(engine, n, LOW_CANDIDATES)
    (out / "perhead-low.json").write_text(json.dumps(calibration, indent=1))
    thresholds = {int(layer): t for layer, t in calibration["thresholds"].items()}
    low = {int(layer): t for layer, t in calibration["low_thresholds"].items()}
    configs = {"perhead": per_head_patterns(thresholds), "perheadlow": per_head_patterns(low),
               "perheads32": per_head_patterns(thresholds, 32)}  # fmt: skip
    report: dict = {"n": n, "tokens": len(tokens), "timing": time_ways(qkv, configs, n, {"r7": WAYS["r7"]}, "r7")}
    (out / "more-round7.json").write_text(json.dumps(report, indent=1))
    print_summary(report | {"passes": []})
    del qkv
    torch.cuda.empty_cache()
    from bench.longctx_round4 import set_core

    set_core(ENGINE)  # the engine's settings again after time_ways' reset
    longctx.TASKS["needles"] = (10, 5, 8)
    longctx.EXTRA_PREFILLS.update({
        "sparse_perhead_low": SparsePrefill(configs["perheadlow"], **GRID),
        "sparse_perhead_s32": SparsePrefill(configs["perheads32"], **GRID),
    })  # fmt: skip
    results = longctx.accuracy(engine, out, [n], ["passkey", "needles"], budget_s, list(MORE_METHODS))
    (out / f"accuracy-{n}.json").rename(out / f"more-accuracy-{n}.json")
    return results


def main() -> None:
    parser = round_parser(__doc__, ["kernels", "accuracy", "more"], 7, 480.0)
    parser.add_argument("--tasks", default="passkey,needles")
    args = parser.parse_args()
    if args.phase == "render":
        from bench.longctx_round7_report import write_report

        print(write_report(args.results))
        return
    write_meta(args.out, args.phase)
    engine = load_engine_128k(args.model, args.tokenizer)
    if args.phase == "kernels":
        kernels_phase(engine, args.out)
    elif args.phase == "more":
        more_phase(engine, args.out, args.budget_s)
    else:
        accuracy_phase(engine, args.out, args.budget_s, args.tasks.split(","))
    engine.close()


if __name__ == "__main__":
    main()
