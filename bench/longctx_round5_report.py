"""The report of bench.longctx_round5: its section of bench/results/longctx-<card>.md after rounds 1–4 (whose
summary line it supersedes), ending with the summary line the issue asks for."""

import json
import statistics
from pathlib import Path

from bench import longctx
from bench.longctx_round3_report import accuracy_rows, first_token_gate, write_round
from bench.longctx_round4_report import NEEDLE_ROWS, SELECTIONS

WAY_NAMES = {
    "plain": "round 4's core (plain loop)",
    "plain_cap128": "register cap 128",
    "pipelined": "next QK^T first",
    "pipelined_cap168": "next QK^T first, cap 168",
    "lazy": "lazy rescale",
    "pipelined_lazy_cap168": "next QK^T first + lazy, cap 168",
}


def load(results: Path, name: str) -> dict:
    return json.loads((results / name).read_text())


def density(rows: list[dict], config: str) -> float:
    return sum(r[f"{config}_tiles_64"] for r in rows) / sum(r[f"{config}_tiles_causal"] for r in rows)


def ways_table(kernels: dict) -> list[str]:
    rows = kernels["timing"]
    cudnn = sum(r["cudnn_ms"] for r in rows)
    base = sum(r["default_plain_ms"] for r in rows)
    lines = [
        "",
        f"### The core's interior loop, default budgets (density {density(rows, 'default'):.3f}), six layers at "
        f"{kernels['tokens']:,} tokens (ms; sparse includes building its lists)",
        "",
        f"| way | six layers | × cuDNN ({cudnn:.1f} ms) | × round 4's core | largest output change vs round 4's core |",
        "|---|---|---|---|---|",
    ]
    for way in kernels["ways"]:
        total = sum(r[f"default_{way}_ms"] for r in rows)
        drift = max((r.get(f"default_{way}_vs_plain", 0.0) for r in rows), default=0.0)
        lines.append(f"| {WAY_NAMES[way]} | {total:.1f} | {cudnn / total:.2f}× | {base / total:.3f}× | {drift:.1e} |")
    return lines


def selection_table(kernels: dict, estimate: dict) -> list[str]:
    """Antidiagonal thresholds against the default budgets: torch estimate (first session), fused (second)."""
    first, second = kernels["timing"], estimate["timing"]
    way = estimate["fastest"]
    cudnn_1, cudnn_2 = sum(r["cudnn_ms"] for r in first), sum(r["cudnn_ms"] for r in second)
    lines = [
        "",
        f"### Selections on the same Q/K, the core with the register cap (ms, × cuDNN: {cudnn_1:.1f} ms in the "
        f"first session, {cudnn_2:.1f} ms in the second)",
        "",
        "| selection | density | first session: estimate in torch | second session: estimate in one Triton pass "
        "| output error vs cuDNN (median over layers) |",
        "|---|---|---|---|---|",
    ]
    for config in ("antidiag90", "antidiag95", "default"):
        old = sum(r[f"{config}_{way}_ms"] for r in first)
        new = sum(r[f"{config}_{way}_ms"] for r in second)
        err = statistics.median(r[f"{config}_{way}_err"] for r in second)
        name = "MInference's default budgets" if config == "default" else f"antidiagonal, threshold 0.{config[-2:]}"
        lines.append(f"| {name} | {density(second, config):.3f} | {old:.1f} ({cudnn_1 / old:.2f}×) "
                     f"| {new:.1f} ({cudnn_2 / new:.2f}×) | {err:.4f} |")  # fmt: skip
    lines += ["", "The block mass per layer (ms) and how many list entries the two estimates share:", ""]
    lines += [
        "| layer | torch | one Triton pass | max abs. difference | same entries, 0.90 / 0.95 |",
        "|---|---|---|---|---|",
    ]
    for r in estimate["estimate"]:
        lines.append(f"| {r['layer']} | {r['torch_ms']:.1f} | {r['fused_ms']:.2f} | {r['mass_max_diff']:.1e} "
                     f"| {r['antidiag90_same_entries']:.4f} / {r['antidiag95_same_entries']:.4f} |")  # fmt: skip
    return lines


def accuracy_cells(results: Path) -> tuple[dict, list[str], list[str]]:
    """Cells of every accuracy run: antidiagonal 0.95 and the default budgets (first session), antidiagonal 0.9
    (passkey in the second session's accuracy call, needles in its last call); dense ran in each and answered
    the same every time (checked here)."""
    cells, notes = {}, []
    for name in ("accuracy-131072.json", "accuracy90-131072.json", "needles90-131072.json"):
        for cell in load(results, name)["cells"]:
            if "records" not in cell:
                continue
            key = (cell["task"], cell["method"])
            if key in cells and cell["method"] == "dense":
                same = [a["hit"] for a in cells[key]["records"]] == [b["hit"] for b in cell["records"]]
                notes.append(f"dense {cell['task']} in {name}: {'the same answers' if same else 'DIFFERENT answers'}")
                continue
            cells[key] = cell
    methods = ["dense", "sparse_antidiag90", "sparse_antidiag95", "sparse_default"]
    return cells, methods, notes


def e2e_lines(results: Path) -> tuple[list[str], dict[str, float]]:
    runs = [
        ("first session, estimate in torch", load(results, "accuracy-131072.json")["e2e"]),
        ("second session, one Triton pass", load(results, "estimate-round5.json")["e2e"]),
        ("second session, one Triton pass", load(results, "accuracy90-131072.json")["e2e"]),
    ]
    lines = [
        "",
        f"### End to end at {runs[0][1]['tokens']:,} tokens (cold prefill, median of 3 passkey prompts after a "
        "warm-up; each row's dense and no-attention times from the same call)",
        "",
        "| call | method | prefill s | × dense | share of the ceiling | top-1 same as dense |",
        "|---|---|---|---|---|---|",
    ]
    speedups: dict[str, float] = {}
    for label, e2e in runs:
        dense = e2e["dense"]["prefill_s"]
        ceiling = dense / e2e["no_attention_s"]
        for method in [m for m in e2e if m.startswith("sparse_")]:
            x = dense / e2e[method]["prefill_s"]
            if "Triton" in label:
                speedups[method] = x
            same = f"{sum(e2e[method]['top1_same'])}/{len(e2e[method]['top1_same'])}"
            lines.append(f"| {label} | {method.removeprefix('sparse_')} | {e2e[method]['prefill_s']:.3f} "
                         f"| {x:.2f}× | {x / ceiling:.0%} | {same} |")  # fmt: skip
        lines.append(f"| {label} | dense / no attention | {dense:.3f} / {e2e['no_attention_s']:.3f} | 1.00× / "
                     f"{ceiling:.2f}× | | |")  # fmt: skip
    return lines, speedups


def section(results: Path) -> tuple[list[str], str]:
    meta = load(results, "meta-kernels.json")
    kernels, estimate = load(results, "kernels-round5.json"), load(results, "estimate-round5.json")
    lines = [
        "",
        f"## Round 5: the core's interior loop, and a query-aware selection — {meta['card']}",
        "",
        f"Same model, prompts and tasks (torch {meta['torch']}, Triton {meta['triton']}); two sessions, the model "
        "uploaded in each. First: `python -m bench.longctx_round5 kernels`, then `accuracy`. Second: `estimate`, "
        "then antidiagonal 0.9's accuracy (passkey through `accuracy --picks`, needles alone in the last call). "
        "Kernel times are `triton.testing.do_bench` medians on the six captured layers of round 2's Retr.KV "
        "prompt at 128K (YaRN), captured again in each session. **Antidiagonal selection** (XAttention's "
        "scoring): per query block, key blocks in falling estimated mass until the kept mass reaches the "
        "threshold (diagonal and block 0 always), the mass from strided antidiagonals (stride 16: 1/16 of QK^T), "
        "every head, no search. Thresholds 0.9 and 0.95 were fixed before the run; the rule fixed with them ran "
        "the accuracy gate on 0.95 (no threshold's output error on the kernels' prompt was at most the default "
        "budgets'); 0.9 was added in the second session, after 0.95 had passed, so both of the two candidates "
        "were measured on the accuracy tasks.",
    ]
    lines += ways_table(kernels)
    lines += selection_table(kernels, estimate)
    cells, methods, notes = accuracy_cells(results)
    names = {m: m.removeprefix("sparse_") for m in methods}
    lines += [
        "",
        "### Accuracy at 128K (YaRN): passkey 20 prompts, multi-needle 10 contexts (✗: below the lower end of "
        "dense's 95% interval; every sparse method on the core with the register cap; antidiag95's lists from the "
        "torch estimate, antidiag90's from the Triton pass)",
        "",
    ]
    rows, kept = accuracy_rows(cells, methods, names, SELECTIONS | NEEDLE_ROWS)
    lines += rows
    lines += ["", first_token_gate(cells, methods, names) + " Dense repeats: " + "; ".join(notes) + "."]
    body, e2e_x = e2e_lines(results)
    lines += body
    cudnn = sum(r["cudnn_ms"] for r in estimate["timing"])
    attn = {f"sparse_{c}": cudnn / sum(r[f"{c}_{estimate['fastest']}_ms"] for r in estimate["timing"])
            for c in ("antidiag90", "antidiag95", "default")}  # fmt: skip
    chosen = max((m for m in methods[1:] if kept[m]), key=attn.get, default=None)
    verdict = ", ".join(f"{names[m]} {'keeps' if kept[m] else 'does not keep'} it" for m in methods[1:])

    def passkey(method: str) -> str:
        cell = cells.get(("passkey", method))
        return f"{cell['hits'] / cell['samples']:.2f}" if cell else "nan"

    lines += [
        "",
        f"Within one interval of dense in every row: {verdict}. Speedups in the summary line: "
        + (f"{names[chosen]}, the fastest on the attention of those that keep it (second session)" if chosen
           else "none kept dense's accuracy")
        + ". sparse_searched_acc stays round 4's rows90 (no search ran this round); accuracies are passkey at "
        "131,072 tokens; drop_acc is round 1's (not re-run).",
    ]  # fmt: skip
    summary = (
        f"longctx card={meta['slug']} model={longctx.MODEL_NAME} ctx=131072 dense_acc={passkey('dense')} "
        f"sparse_default_acc={passkey('sparse_default')} sparse_searched_acc=1.00 drop_acc=0.10 "
        f"attn_speedup_128k={attn.get(chosen, float('nan')):.2f} e2e_speedup_128k={e2e_x.get(chosen, float('nan')):.2f}"
    )
    return lines, summary


def write_report(results: Path, reading: Path | None = None) -> str:
    """Round 5's section into bench/results/longctx-<card>.md (longctx_round3_report.write_round)."""
    return write_round(results, 5, section, "meta-kernels.json", reading)
