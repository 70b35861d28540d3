"""Round 6 of bench.longctx (GPU): the antidiagonal selection's cut in Triton instead of a torch sort, timed beside
round 5's path and cuDNN on the real model's Q/K at 128K, then its accuracy and end to end.

    python -m bench.longctx_round6 kernels  --model M.gguf --tokenizer M.gguf --out DIR    # GPU, after the upload
    python -m bench.longctx_round6 accuracy --model M.gguf --tokenizer M.gguf --out DIR    # GPU, same machine
    python -m bench.longctx_round6 render   --results DIR                                  # here: the report

kernels: round 2's 128K Retr.KV prompt captured again (six layers, as rounds 2-5). Per layer, for thresholds 0.9
and 0.95: the fused pass's pooled rows alone (tiles of 64 and 128 strided rows), round 5's mass (pooled rows and
the row sums added in torch), threshold_lists on it alone (the sort), threshold_cut alone (the bisection), round 5's
whole selection against the new one, and how many rows' block sets the two share. Then cuDNN against the
antidiagonal selections (cut and, for 0.9, round 5's sort) and the default budgets on the capped core (round 5's
fastest way). The mass tile `accuracy` runs is picked by a rule fixed before the run: 128 if its pooled pass is
faster on the six layers and its 0.9 lists share at least 99.9% of the rows with tile 64's, else 64.
accuracy: at 128K (YaRN), end to end (dense, antidiagonal 0.9 with the cut, no attention; median of 3), then
passkey (20 prompts) and multi-needle on 10 contexts for dense and antidiagonal 0.9 with the cut.
levers (a later call, the model uploaded again): the final selection (mass tile 128) again beside cuDNN (LEVERS:
both ways run the same path, see there), then end to end again.
drift (a third machine): the core alone in each program order over the final lists, and which layers or
thresholds move the first token (drift_phase); layers (the same machine): a higher threshold in the middle
layers only (layers_phase).

    python -m bench.longctx_round6 levers   --model M.gguf --tokenizer M.gguf --out DIR    # GPU, after the upload
    python -m bench.longctx_round6 drift    --model M.gguf --tokenizer M.gguf --out DIR    # GPU, after the upload
"""

import json
import statistics
from pathlib import Path

import torch

from bench import longctx
from bench.longctx import STASH
from bench.longctx_round4 import capture_round2_prompt, load_engine_128k, round_parser, set_core, time_ways, write_meta
from bench.longctx_round5 import ANTIDIAGONAL, GRID, STRIDE, antidiagonal_patterns, tag_of
from inference.torch_engine.attention import SparsePrefill
from kernels.pattern_search import HeadChoice
from kernels.reference import BLOCK, block_list_coverage

CAP = {"REGISTER_CAP": 128}  # round 5's fastest way of the core
WAYS = {  # name: (SparsePrefill options, module settings over round 4's CORE_DEFAULTS and SELECT_DEFAULTS)
    "cut": (GRID, CAP | {"MASS_TILE": 64}),
    "sort": (GRID, CAP | {"SELECT": "sort", "MASS_TILE": 64}),  # round 5's selection on the same core
}
MASS_TILES = (64, 128)
LEVERS = {  # the `levers` phase (a later call): the final selection in round 5's grid order and heaviest first;
    # a layer of one pattern runs the plain one-launch core in grid order whatever `schedule` says (SparsePrefill
    # .__call__), so the two time the same path: a repeat on a fresh machine (`drift` times the orders apart)
    "cut_tile128": (GRID, CAP | {"MASS_TILE": 128}),
    "cut_tile128_heaviest": ({"fused": True, "schedule": "heaviest_first"}, CAP | {"MASS_TILE": 128}),
}
LAYERS = 24
MIDDLE = range(6, 18)  # the layers whose selection moved the first token most (drift_phase)
DENSE_SPANS = {"layer 0": range(0, 1), "layers 1-5": range(1, 6), "layers 6-11": range(6, 12),
               "layers 12-17": range(12, 18), "layers 18-23": range(18, 24)}  # fmt: skip
PICKED = tag_of(0.9)  # round 5's: the same accuracy as dense in every row at 0.133 of the tiles


def described(ways: dict) -> dict:
    return {way: {"options": options, "settings": settings} for way, (options, settings) in ways.items()}


def selection_row(q: torch.Tensor, k: torch.Tensor, layer: int) -> dict:
    """One layer's selection stages timed (ms) and the cut's block sets against the sort's."""
    from bench.kernels import timed
    from kernels import antidiagonal_select as select

    qblocks, per_block = -(-q.shape[2] // BLOCK), BLOCK // STRIDE
    row: dict = {"layer": layer}
    for tile in MASS_TILES:
        row[f"pooled{tile}_ms"] = timed(lambda tile=tile: list(select._pooled_chunks(q, k, STRIDE, tile)), False)
    row["mass_ms"] = timed(lambda: select.antidiagonal_block_mass_fused(q, k, STRIDE), False)
    mass = select.antidiagonal_block_mass_fused(q, k, STRIDE)
    row["mass_tile_diff"] = (mass - select.antidiagonal_block_mass_fused(q, k, STRIDE, 128)).abs().max().item()
    chunks = list(select._pooled_chunks(q, k, STRIDE, 64))
    assert len(chunks) == 1, "one chunk of heads at 128K: the cut is timed on it"
    _, pooled, row_sum = chunks[0]
    for threshold in ANTIDIAGONAL:
        tag, limit = tag_of(threshold), mass.new_full((q.shape[1],), threshold)
        row[f"{tag}_sort_ms"] = timed(lambda limit=limit: select.threshold_lists(mass, limit), False)
        row[f"{tag}_cut_ms"] = timed(
            lambda limit=limit: select.threshold_cut(pooled, row_sum, limit, qblocks, per_block), False
        )
        row[f"{tag}_round5_ms"] = timed(
            lambda limit=limit: select.threshold_lists(select.antidiagonal_block_mass_fused(q, k, STRIDE), limit),
            False,
        )
        row[f"{tag}_fused_ms"] = timed(lambda limit=limit: select.antidiagonal_blocks_fused(q, k, limit, STRIDE), False)
        sort_lists = select.threshold_lists(mass, limit)
        cut_lists = select.antidiagonal_blocks_fused(q, k, limit, STRIDE)
        wide_lists = select.antidiagonal_blocks_fused(q, k, limit, STRIDE, 128)
        cut_sets = block_list_coverage(q.shape[2], *cut_lists)
        for name, lists in (("same_rows", sort_lists), ("tile128_same_rows", wide_lists)):
            row[f"{tag}_{name}"] = (block_list_coverage(q.shape[2], *lists) == cut_sets).all(-1).float().mean().item()
        row[f"{tag}_tiles_sort"], row[f"{tag}_tiles_cut"] = int(sort_lists[1].sum()), int(cut_lists[1].sum())
        del sort_lists, cut_lists, wide_lists, cut_sets
    print(f"selection layer {layer}: {row}", flush=True)
    return row


def pick_tile(rows: list[dict]) -> int:
    """The rule fixed before the run (module docstring)."""
    faster = sum(r["pooled128_ms"] for r in rows) < sum(r["pooled64_ms"] for r in rows)
    return 128 if faster and min(r[f"{PICKED}_tile128_same_rows"] for r in rows) >= 0.999 else 64


def kernels_phase(engine, out: Path, n: int = 131072) -> dict:
    tokens, qkv = capture_round2_prompt(engine, n)
    report: dict = {"n": n, "tokens": len(tokens), "ways": described(WAYS)}
    report["selection"] = [selection_row(q, k, layer) for layer, (q, k, _) in sorted(qkv.items())]
    report["mass_tile"] = pick_tile(report["selection"])
    (out / "kernels-round6.json").write_text(json.dumps(report, indent=1))
    cut_only = {"cut": WAYS["cut"]}
    configs = {tag_of(t): antidiagonal_patterns(t) for t in ANTIDIAGONAL}
    report["timing"] = time_ways(qkv, configs | {"default": None}, n, cut_only, "cut")
    sort_rows = time_ways(qkv, {PICKED: configs[PICKED]}, n, {"sort": WAYS["sort"]}, "sort")
    for row, more in zip(report["timing"], sort_rows, strict=True):
        row.update({key: value for key, value in more.items() if key.startswith(f"{PICKED}_sort")})
    if report["mass_tile"] != 64:
        wide = {"cut_tile128": (GRID, CAP | {"MASS_TILE": 128})}
        wide_rows = time_ways(qkv, {PICKED: configs[PICKED]}, n, wide, "cut_tile128")
        for row, more in zip(report["timing"], wide_rows, strict=True):
            row.update({key: value for key, value in more.items() if key.startswith(f"{PICKED}_cut_tile128")})
    set_core({})
    (out / "kernels-round6.json").write_text(json.dumps(report, indent=1))
    if STASH.is_dir():
        (STASH / "round6-picks.json").write_text(json.dumps({"mass_tile": report["mass_tile"]}))
    print_summary(report)
    return report


def print_summary(report: dict) -> None:
    print("\n| layer | pooled 64 | pooled 128 | round 5 mass | " + " | ".join(
        f"{tag_of(t)} sort / cut / round 5 whole / new whole / same rows" for t in ANTIDIAGONAL) + " |")  # fmt: skip
    for r in report["selection"]:
        cells = " | ".join(
            f"{r[f'{g}_sort_ms']:.2f} / {r[f'{g}_cut_ms']:.3f} / {r[f'{g}_round5_ms']:.2f} / {r[f'{g}_fused_ms']:.2f}"
            f" / {r[f'{g}_same_rows']:.5f}"
            for g in map(tag_of, ANTIDIAGONAL)
        )
        print(f"| {r['layer']} | {r['pooled64_ms']:.2f} | {r['pooled128_ms']:.2f} | {r['mass_ms']:.2f} | {cells} |")
    rows = report["timing"]
    cudnn = sum(r["cudnn_ms"] for r in rows)
    print(f"\nmass tile picked: {report['mass_tile']}")
    print(f"| config | way | density | six layers ms | × cuDNN ({cudnn:.1f} ms) | median error vs cuDNN "
          "| largest output change vs the first way |")  # fmt: skip
    for key in sorted(k.removesuffix("_ms") for k in rows[0] if k.endswith("_ms") and k != "cudnn_ms"):
        config, way = key.split("_", 1)
        density = sum(r[f"{config}_tiles_64"] for r in rows) / sum(r[f"{config}_tiles_causal"] for r in rows)
        total = sum(r[f"{key}_ms"] for r in rows)
        err = statistics.median(r[f"{key}_err"] for r in rows)
        drift = max(max((v for k, v in r.items() if k.startswith(f"{key}_vs_")), default=0.0) for r in rows)
        print(f"| {config} | {way} | {density:.3f} | {total:.1f} | {cudnn / total:.2f}× | {err:.4f} | {drift:.1e} |")


def accuracy_phase(engine, out: Path, budget_s: float, n: int = 131072, middle: float | None = None) -> dict:
    path = STASH / "round6-picks.json"
    picks = json.loads(path.read_text()) if path.is_file() else {"mass_tile": 64}
    options, settings = WAYS["cut"]
    set_core(settings | {"MASS_TILE": picks["mass_tile"]})  # dense runs on cuDNN: the settings touch sparse only
    longctx.TASKS["needles"] = (10, 5, 8)  # 40 later questions per mode, as rounds 4-5
    if middle is None:
        method, patterns = f"sparse_{PICKED}", antidiagonal_patterns(0.9)
    else:  # --middle: that threshold in layers 6-17 (layers_phase), the rest 0.9
        method, patterns = f"sparse_{PICKED}_mid{round(middle * 100)}", layered(0.9, {MIDDLE: middle})
    longctx.EXTRA_PREFILLS[method] = SparsePrefill(patterns, **options)
    results = longctx.accuracy(engine, out, [n], ["passkey", "needles"], budget_s, ["dense", method])
    (out / "picks.json").write_text(json.dumps(picks | {"middle": middle}))
    return results


def levers_phase(engine, out: Path, n: int = 131072) -> dict:
    """Both thresholds with mass tile 128 in each order of LEVERS beside cuDNN (outputs compared: a program's
    output does not depend on the order, so they must be equal), then end to end for dense and both orders."""
    tokens, qkv = capture_round2_prompt(engine, n)
    configs = {tag_of(t): antidiagonal_patterns(t) for t in ANTIDIAGONAL}
    report: dict = {"n": n, "tokens": len(tokens), "levers": described(LEVERS)}
    report["timing"] = time_ways(qkv, configs, n, LEVERS, "cut_tile128")
    del qkv
    set_core(CAP | {"MASS_TILE": 128})  # the ways differ only in their SparsePrefill options
    prefills = {f"sparse_{PICKED}_{way}": SparsePrefill(antidiagonal_patterns(0.9), **options)
                for way, (options, _) in LEVERS.items()}  # fmt: skip
    longctx.set_rope(engine, True)
    report["e2e"] = longctx.e2e(engine, n, prefills, ["dense", *prefills])
    set_core({})
    (out / "levers-round6.json").write_text(json.dumps(report, indent=1))
    print_summary(report | {"selection": [], "mass_tile": 128})
    e2e = report["e2e"]
    print("end to end: " + ", ".join(f"{m} {e2e[m]['prefill_s']:.3f} s" for m in ["dense", *prefills])
          + f", no attention {e2e['no_attention_s']:.3f} s")  # fmt: skip
    return report


def layered(threshold: float, spans: dict[range, float | None]) -> dict[int, list[HeadChoice]]:
    """Every layer configured: the antidiagonal threshold, another one in a span's layers (None: dense there)."""
    heads = len(antidiagonal_patterns(threshold)[0])
    dense = [HeadChoice(head=h, pattern="dense", params={}, recall=1.0, density=1.0) for h in range(heads)]
    per_layer = {}
    for layer in range(LAYERS):
        value = next((v for span, v in spans.items() if layer in span), threshold)
        per_layer[layer] = dense if value is None else antidiagonal_patterns(value)[0]
    return per_layer


def core_order_row(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layer: int) -> dict:
    """The core alone over antidiagonal 0.9's lists: the plain launch (grid order, as the engine runs one
    pattern) against the scheduled launch heaviest first and in grid order (outputs compared)."""
    from bench.kernels import rel_err, timed
    from kernels import antidiagonal_select as select
    from kernels.sparse_attention import scheduled_sparse_attention, sparse_attention

    blocks, counts = select.antidiagonal_blocks_fused(q, k, q.new_full((q.shape[1],), 0.9, dtype=torch.float32),
                                                      STRIDE, 128)  # fmt: skip
    columns = torch.zeros(*counts.shape, 1, dtype=torch.int32, device=q.device)
    ids = torch.arange(q.shape[1], dtype=torch.int32, device=q.device)
    calls = {
        "plain": lambda: sparse_attention(q, k, v, blocks, counts),
        "heaviest_first": lambda: scheduled_sparse_attention(q, k, v, ids, blocks, counts, columns,
                                                             torch.zeros_like(counts), out=torch.empty_like(q)),
        "natural": lambda: scheduled_sparse_attention(q, k, v, ids, blocks, counts, columns, torch.zeros_like(counts),
                                                      out=torch.empty_like(q), order="natural"),
    }  # fmt: skip
    plain = calls["plain"]()
    row: dict = {"layer": layer}
    for name, call in calls.items():
        row[f"{name}_ms"] = timed(call, False)
        row[f"{name}_vs_plain"] = rel_err(call(), plain)
    return row


def drift_phase(engine, out: Path, n: int = 131072) -> dict:
    """The core's program order alone (core_order_row), then where the first-token drift comes from: end to end
    on 5 passkey prompts of the e2e seed (not the accuracy prompts) for antidiagonal 0.9 everywhere, with one span
    of layers dense (DENSE_SPANS), and 0.95 / 0.98 everywhere: prefill time, logits error and top-1 against dense."""
    tokens, qkv = capture_round2_prompt(engine, n)
    set_core(CAP | {"MASS_TILE": 128})
    report: dict = {
        "n": n,
        "tokens": len(tokens),
        "order": [core_order_row(*qkv[layer], layer) for layer in sorted(qkv)],
    }
    del qkv
    prefills = {f"sparse_{PICKED}": SparsePrefill(antidiagonal_patterns(0.9), **GRID)}
    for name, span in DENSE_SPANS.items():
        prefills[f"sparse_{PICKED}_dense_{name.replace(' ', '_')}"] = SparsePrefill(layered(0.9, {span: None}), **GRID)
    for threshold in (0.95, 0.98):
        prefills[f"sparse_{tag_of(threshold)}"] = SparsePrefill(antidiagonal_patterns(threshold), **GRID)
    longctx.set_rope(engine, True)
    report["e2e"] = longctx.e2e(engine, n, prefills, ["dense", *prefills], prompts=5)
    set_core({})
    (out / "drift-round6.json").write_text(json.dumps(report, indent=1))
    print(
        "\n| layer | " + " | ".join(f"{name} ms (vs plain)" for name in ("plain", "heaviest_first", "natural")) + " |"
    )
    for r in report["order"]:
        print(f"| {r['layer']} | " + " | ".join(f"{r[f'{w}_ms']:.2f} ({r[f'{w}_vs_plain']:.0e})"
                                                  for w in ("plain", "heaviest_first", "natural")) + " |")  # fmt: skip
    print_drift(report["e2e"])
    return report


def print_drift(e2e: dict) -> None:
    print("\n| method | prefill s | median logits error | top-1 same |")
    for method in [m for m in e2e if m.startswith("sparse_")]:
        m = e2e[method]
        print(f"| {method} | {m['prefill_s']:.3f} | {statistics.median(m['logits_err']):.3f} "
              f"| {sum(m['top1_same'])}/{len(m['top1_same'])} |")  # fmt: skip
    print(f"dense {e2e['dense']['prefill_s']:.3f} s, no attention {e2e['no_attention_s']:.3f} s")


def layers_phase(engine, out: Path, n: int = 131072) -> dict:
    """After `drift` (the middle layers move the first token most): a higher threshold in layers 6-17 only, end to
    end on the same 5 prompts beside antidiagonal 0.9 everywhere and dense."""
    set_core(CAP | {"MASS_TILE": 128})
    prefills = {f"sparse_{PICKED}": SparsePrefill(antidiagonal_patterns(0.9), **GRID)}
    for threshold in (0.95, 0.98):
        prefills[f"sparse_{PICKED}_{tag_of(threshold)}_layers_6-17"] = SparsePrefill(
            layered(0.9, {MIDDLE: threshold}), **GRID
        )
    longctx.set_rope(engine, True)
    report = {"n": n, "e2e": longctx.e2e(engine, n, prefills, ["dense", *prefills], prompts=5)}
    set_core({})
    (out / "layers-round6.json").write_text(json.dumps(report, indent=1))
    print_drift(report["e2e"])
    return report


def main() -> None:
    parser = round_parser(__doc__, ["kernels", "accuracy", "levers", "drift", "layers"], 6, 420.0)
    parser.add_argument("--middle", type=float, help="accuracy: this threshold in layers 6-17 (after `layers`)")
    args = parser.parse_args()
    if args.phase == "render":
        from bench.longctx_round6_report import write_report

        print(write_report(args.results))
        return
    write_meta(args.out, args.phase)
    engine = load_engine_128k(args.model, args.tokenizer)
    if args.phase == "kernels":
        kernels_phase(engine, args.out)
    elif args.phase == "levers":
        levers_phase(engine, args.out)
    elif args.phase == "drift":
        drift_phase(engine, args.out)
    elif args.phase == "layers":
        layers_phase(engine, args.out)
    else:
        accuracy_phase(engine, args.out, args.budget_s, middle=args.middle)
    engine.close()


if __name__ == "__main__":
    main()
