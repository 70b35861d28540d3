"""Offline per-head pattern search: for each head, the cheapest sparse pattern that keeps at least
a target share of the dense attention mass on a calibration input.

    python -m kernels.pattern_search --calibration qk-4096.pt qk-16384.pt --target 0.95 --out patterns.json

Each `qk-*.pt` holds {"q": [1, h, n, d], "k": [1, h_kv, n, d]} captured from one layer of a real model,
at one length n. Cost is what the sparse kernel computes: 64×64 tiles over the causal tiles (1.0 =
dense). The search runs in PyTorch through the references (any device; exact up to EXACT_ROWS query
rows, on evenly spaced sampled rows beyond); it is offline, so it loops over heads.

Recall is measured twice: on the evaluation rows (all rows, or evenly spaced ones) and, when asked, on
the last `last_rows` query rows alone: the question's rows, whose far keys (a needle, a retrieved value)
decide the answer. A row-averaged recall can be met while dropping exactly those keys; a search with a
`last_target` keeps only candidates that hold the last rows' mass too.

A config is a `Calibration`: the choices searched at each calibration length, and optionally a
`ScalingRule` that carries the longest length's budgets further (budget × (n / L) ** exponent, per
head, fitted on the calibrated lengths). `Calibration.choices_for(n)` gives the choices for a prefill
of n tokens, or None beyond the calibrated lengths without a rule: the engine then refuses the config.
"""

import argparse
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from . import reference
from .reference import BLOCK
from .sparse_prefill import a_shape_blocks, block_sparse_blocks
from .vs_index import select_indices

FORMAT_VERSION = 2  # 1: one calibration length, no rule (still read); 2: several lengths and a scaling rule
EXACT_ROWS = 8192  # longer calibrations measure recall on SAMPLED_ROWS evenly spaced query rows
SAMPLED_ROWS = 1024


@dataclass(frozen=True)
class Candidate:
    pattern: str  # "a_shape" | "block_sparse" | "vertical_slash" | "dense"
    params: dict = field(default_factory=dict)


# sized for 4K-128K calibrations (the largest ones are dense below 16K, so never chosen there)
DEFAULT_CANDIDATES = (
    *(Candidate("a_shape", {"sink_blocks": 1, "local_blocks": n}) for n in (4, 8, 16, 32, 64, 128, 256)),
    *(Candidate("block_sparse", {"blocks": n}) for n in (8, 16, 32, 64, 128, 256)),
    *(
        Candidate("vertical_slash", {"vertical": v, "slash": s})
        for v, s in ((64, 128), (100, 256), (250, 500), (500, 1000), (1000, 2000), (1000, 6096), (2000, 8192),
                     (4000, 16384))
    ),
)  # fmt: skip
DENSE = Candidate("dense")


@dataclass
class HeadChoice:
    head: int
    pattern: str
    params: dict
    recall: float
    density: float
    recall_last: float | None = None  # on the last rows, when the search measured them
    recall_row_min: float | None = None  # the lowest recall of any one evaluation row


def evaluation_rows(n: int, device=None) -> torch.Tensor:
    """The query rows whose dense mass a recall is measured on: all of them up to EXACT_ROWS, else
    SAMPLED_ROWS evenly spaced ones (the last row included)."""
    if n <= EXACT_ROWS:
        return torch.arange(n, device=device)
    return torch.linspace(0, n - 1, SAMPLED_ROWS, device=device).round().long().unique()


def evaluate_head(q_head: torch.Tensor, k_head: torch.Tensor, candidates=DEFAULT_CANDIDATES,
                  rows: torch.Tensor | None = None, last_rows: int = 0) -> list[HeadChoice]:  # fmt: skip
    """Recall (on `rows`, by default evaluation_rows; with last_rows > 0 also on the last last_rows rows
    alone, as recall_last) and density (exact) of every candidate for one head (q_head, k_head: [n, d])."""
    n, dim = q_head.shape
    rows = evaluation_rows(n, q_head.device) if rows is None else rows
    measured = len(rows)
    if last_rows:
        rows = torch.cat([rows, torch.arange(max(n - last_rows, 0), n, device=q_head.device)])
    keys = torch.arange(n, device=q_head.device)
    scores = (q_head[rows].float() @ k_head.float().T) / math.sqrt(dim)
    probs = torch.softmax(scores.masked_fill(keys[None, :] > rows[:, None], float("-inf")), dim=-1)
    qblocks = (n + BLOCK - 1) // BLOCK
    causal_tiles = qblocks * (qblocks + 1) / 2
    q4, k4 = q_head[None, None], k_head[None, None]
    vertical_scores, slash_scores = reference.vertical_slash_scores(q4, k4)
    results = []
    for candidate in candidates:
        covered, columns = _coverage(candidate, n, q4, k4, vertical_scores, slash_scores)
        covered = covered.to(q_head.device)  # A-shape lists are built on the CPU
        mask = covered[rows // BLOCK][:, keys // BLOCK]  # the rows' slice of reference.lists_to_mask
        if columns is not None:
            mask |= columns[rows // BLOCK]
        mask &= keys[None, :] <= rows[:, None]
        tiles = covered.sum().item() + (0 if columns is None else ((columns.sum(1) + BLOCK - 1) // BLOCK).sum().item())
        kept = (probs * mask).sum(-1)
        recall = kept[:measured].mean().item()
        recall_last = kept[measured:].mean().item() if last_rows else None
        row_min = kept[:measured].min().item()
        results.append(HeadChoice(-1, candidate.pattern, candidate.params, recall, tiles / causal_tiles, recall_last,
                                  row_min))  # fmt: skip
    return results


def _coverage(candidate: Candidate, n: int, q4, k4, vertical_scores, slash_scores):
    p = candidate.params
    if candidate.pattern == "a_shape":
        blocks, counts = a_shape_blocks(n, torch.tensor([p["sink_blocks"]]), torch.tensor([p["local_blocks"]]), 1)
        return reference.block_list_coverage(n, blocks[0, 0], counts[0, 0]), None
    if candidate.pattern == "block_sparse":
        blocks, counts = block_sparse_blocks(q4, k4, torch.tensor([p["blocks"]]))
        return reference.block_list_coverage(n, blocks[0, 0], counts[0, 0]), None
    if candidate.pattern == "vertical_slash":
        vertical, _, slash, _ = select_indices(
            vertical_scores, slash_scores, torch.tensor([p["vertical"]]), torch.tensor([p["slash"]])
        )
        return reference.vertical_slash_lists(n, vertical[0, 0], slash[0, 0])
    raise ValueError(f"unknown pattern {candidate.pattern!r}")


def search(q: torch.Tensor, k: torch.Tensor, target: float = 0.95, candidates=DEFAULT_CANDIDATES,
           last_rows: int = 0, last_target: float | None = None,
           row_target: float | None = None) -> list[HeadChoice]:  # fmt: skip
    """Per head, the lowest-density candidate with recall >= target (and, with last_target, a recall of
    the last last_rows rows >= last_target; with row_target, every evaluation row's >= row_target); dense
    when none reaches it."""
    return choose(evaluate_layer(q, k, candidates, last_rows), target, last_target, row_target)


def evaluate_layer(q: torch.Tensor, k: torch.Tensor, candidates=DEFAULT_CANDIDATES, last_rows: int = 0):
    """Every candidate's evaluation for every head of a layer (q [1, h, n, d], k [1, h_kv, n, d])."""
    group = q.shape[1] // k.shape[1]
    return [evaluate_head(q[0, head], k[0, head // group], candidates, last_rows=last_rows)
            for head in range(q.shape[1])]  # fmt: skip


def choose(evaluated: list[list[HeadChoice]], target: float, last_target: float | None = None,
           row_target: float | None = None) -> list[HeadChoice]:  # fmt: skip
    """Per head, the cheapest evaluated candidate meeting the targets (several searches share one evaluation):
    mean recall >= target, the last rows' >= last_target, and with row_target every evaluation row's own
    recall >= row_target (no query row, e.g. a needle's, keeps less than that share of its attention)."""
    choices = []
    for head, results in enumerate(evaluated):
        options = [c for c in results if c.recall >= target and (last_target is None or c.recall_last >= last_target)
                   and (row_target is None or c.recall_row_min >= row_target)]  # fmt: skip
        dense = HeadChoice(-1, DENSE.pattern, {}, 1.0, 1.0, None if last_target is None else 1.0, 1.0)
        best = min(options, key=lambda c: c.density, default=dense)
        choices.append(replace(best, head=head))
    return choices


@dataclass(frozen=True)
class ScalingRule:
    """Carries budgets from the longest calibrated length L to a longer n: each head's budgets (vertical
    and slash counts, local and top blocks; sink blocks stay) × (n / L) ** its exponent. Exponent 0 keeps
    the calibrated budgets (the density falls as 1/n), 1 keeps the density."""

    exponents: tuple[float, ...]  # one per head
    fitted_on: tuple[int, ...] = ()  # the calibration lengths the exponents were fitted on

    def carry(self, choice: HeadChoice, from_tokens: int, to_tokens: int) -> HeadChoice:
        factor = (to_tokens / from_tokens) ** self.exponents[choice.head]
        return scale_choice(choice, factor)


def scale_choice(choice: HeadChoice, factor: float) -> HeadChoice:
    """The same pattern with its budgets multiplied by factor (rounded up; sinks unchanged)."""
    grow = lambda value: math.ceil(value * factor - 1e-9)  # noqa: E731
    params = dict(choice.params)
    for key in ("vertical", "slash", "local_blocks", "blocks"):
        if key in params:
            params[key] = grow(params[key])
    return HeadChoice(choice.head, choice.pattern, params, float("nan"), float("nan"))


@dataclass
class Calibration:
    """One layer's per-head choices, searched at one or more lengths (see the module docstring)."""

    by_length: dict[int, list[HeadChoice]]
    target: float
    scaling: ScalingRule | None = None
    source: str = ""
    last_rows: int = 0  # the search also required recall >= last_target on the last last_rows rows
    last_target: float | None = None
    row_target: float | None = None  # and every evaluation row's recall >= row_target

    @property
    def lengths(self) -> list[int]:
        return sorted(self.by_length)

    def choices_for(self, n: int) -> list[HeadChoice] | None:
        """The choices searched at the shortest calibrated length ≥ n (budgets only shrink in relative
        terms at shorter lengths); beyond the longest, its choices carried by the scaling rule; None
        beyond the longest without a rule."""
        longest = self.lengths[-1]
        if n <= longest:
            return self.by_length[next(length for length in self.lengths if length >= n)]
        if self.scaling is None:
            return None
        return [self.scaling.carry(choice, longest, n) for choice in self.by_length[longest]]


def cost_per_query_block(choice: HeadChoice, n: int) -> float:
    """Tiles per query block, the absolute cost a budget buys (density × the mean causal tiles)."""
    qblocks = (n + BLOCK - 1) // BLOCK
    return choice.density * (qblocks + 1) / 2


def fit_scaling(by_length: dict[int, list[HeadChoice]]) -> ScalingRule:
    """Per head, the least-squares slope of log(tiles per query block) over log(n) across the calibrated
    lengths, clamped to [0, 1]: how fast the cost a head needs for the target grows with length."""
    lengths = sorted(by_length)
    if len(lengths) < 2:
        raise ValueError("a scaling rule needs calibrations at two lengths or more")
    x = torch.tensor([math.log(n) for n in lengths], dtype=torch.float64)
    x = x - x.mean()
    exponents = []
    for head in range(len(by_length[lengths[0]])):
        y = torch.tensor([math.log(cost_per_query_block(by_length[n][head], n)) for n in lengths],
                         dtype=torch.float64)  # fmt: skip
        slope = float((x * (y - y.mean())).sum() / (x * x).sum())
        exponents.append(round(min(max(slope, 0.0), 1.0), 3))
    return ScalingRule(tuple(exponents), tuple(lengths))


def save_calibration(path: Path, calibration: Calibration) -> None:
    rule = calibration.scaling
    scaling = None if rule is None else {"rule": "power", "exponents": list(rule.exponents),
                                         "fitted_on": list(rule.fitted_on)}  # fmt: skip
    document = {
        "format": FORMAT_VERSION,
        "target_recall": calibration.target,
        "calibration_tokens": calibration.lengths,
        "source": calibration.source,
        "last_rows": calibration.last_rows,
        "last_target": calibration.last_target,
        "row_target": calibration.row_target,
        "scaling": scaling,
        "lengths": {str(n): [asdict(choice) for choice in calibration.by_length[n]] for n in calibration.lengths},
    }
    Path(path).write_text(json.dumps(document, indent=1))


def save_config(path: Path, choices: list[HeadChoice], *, target: float, calibration_tokens: int, source: str) -> None:
    """One length, no scaling rule."""
    save_calibration(path, Calibration({calibration_tokens: choices}, target, None, source))


def load_calibration(path: Path) -> Calibration:
    document = json.loads(Path(path).read_text())
    version = document.get("format")
    if version == 1:
        by_length = {int(document["calibration_tokens"]): document["heads"]}
    elif version == FORMAT_VERSION:
        by_length = {int(n): heads for n, heads in document["lengths"].items()}
    else:
        raise ValueError(f"{path}: pattern config format {version!r}, expected 1 or {FORMAT_VERSION}")
    known = {c.pattern for c in DEFAULT_CANDIDATES} | {DENSE.pattern}
    parsed = {}
    for n, heads in by_length.items():
        choices = [HeadChoice(**head) for head in heads]
        if [c.head for c in choices] != list(range(len(choices))):
            raise ValueError(f"{path}: heads must be listed once each, in order")
        if unknown := {c.pattern for c in choices} - known:
            raise ValueError(f"{path}: unknown patterns {sorted(unknown)}")
        parsed[n] = choices
    if len({len(choices) for choices in parsed.values()}) != 1:
        raise ValueError(f"{path}: every calibration length must list the same heads")
    rule = document.get("scaling")
    scaling = None
    if rule:
        if rule.get("rule") != "power" or len(rule["exponents"]) != len(next(iter(parsed.values()))):
            raise ValueError(f"{path}: scaling rule {rule!r} is not a power rule with one exponent per head")
        scaling = ScalingRule(tuple(float(e) for e in rule["exponents"]), tuple(rule.get("fitted_on", ())))
    last_target = document.get("last_target")
    last_target = None if last_target is None else float(last_target)
    source, last_rows = document.get("source", ""), int(document.get("last_rows", 0))
    row_target = document.get("row_target")
    row_target = None if row_target is None else float(row_target)
    return Calibration(parsed, float(document["target_recall"]), scaling, source, last_rows, last_target, row_target)


def load_config(path: Path) -> list[HeadChoice]:
    """The choices of a config's longest calibration length."""
    calibration = load_calibration(path)
    return calibration.by_length[calibration.lengths[-1]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calibration", type=Path, nargs="+", required=True, help="one Q/K file per length")
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--last-rows", type=int, default=0, help="also measure recall on the last rows alone")
    parser.add_argument("--last-target", type=float, default=None, help="the last rows' recall target")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    by_length = {}
    for path in args.calibration:
        tensors = torch.load(path, map_location="cuda" if torch.cuda.is_available() else "cpu")
        by_length[tensors["q"].shape[2]] = search(tensors["q"], tensors["k"], args.target, DEFAULT_CANDIDATES,
                                                  args.last_rows, args.last_target)  # fmt: skip
    scaling = fit_scaling(by_length) if len(by_length) > 1 else None
    calibration = Calibration(by_length, args.target, scaling, " ".join(str(p) for p in args.calibration),
                              args.last_rows, args.last_target)  # fmt: skip
    save_calibration(args.out, calibration)
    print(f"{'tokens':>7} {'head':>4} {'pattern':<15} {'params':<36} {'recall':>7} {'density':>8}")
    for n, choices in sorted(by_length.items()):
        for c in choices:
            print(f"{n:>7} {c.head:>4} {c.pattern:<15} {json.dumps(c.params):<36} {c.recall:>7.3f} {c.density:>8.3f}")
    longest = by_length[max(by_length)]
    mean_density = sum(c.density for c in longest) / len(longest)
    exponents = "none" if scaling is None else ",".join(f"{e:.2f}" for e in scaling.exponents)
    print(f"pattern_search heads={len(longest)} lengths={sorted(by_length)} target={args.target} "
          f"mean_density={mean_density:.3f} exponents={exponents}")  # fmt: skip


if __name__ == "__main__":
    main()
