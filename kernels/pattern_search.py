"""Offline per-head pattern search: for each head, the cheapest sparse pattern that keeps at least
a target share of the dense attention mass on a calibration input.

    python -m kernels.pattern_search --calibration qk.pt --target 0.95 --out patterns.json

`qk.pt` holds {"q": [1, h, n, d], "k": [1, h_kv, n, d]} captured from one layer of a real model.
Cost is what the sparse kernel computes: 64×64 tiles over the causal tiles (1.0 = dense). The
search runs in PyTorch through the references (exact, any device); it is offline, so it loops
over heads. The config file is what the engine loads (`load_config`).
"""

import argparse
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from . import reference
from .reference import BLOCK
from .sparse_prefill import a_shape_blocks, block_sparse_blocks
from .vs_index import select_indices

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Candidate:
    pattern: str  # "a_shape" | "block_sparse" | "vertical_slash" | "dense"
    params: dict = field(default_factory=dict)


DEFAULT_CANDIDATES = (
    *(Candidate("a_shape", {"sink_blocks": 1, "local_blocks": n}) for n in (4, 8, 16, 32, 64)),
    *(Candidate("block_sparse", {"blocks": n}) for n in (8, 16, 32, 64)),
    *(
        Candidate("vertical_slash", {"vertical": v, "slash": s})
        for v, s in ((64, 128), (100, 256), (250, 500), (500, 1000), (1000, 2000), (1000, 6096), (2000, 8192))
    ),
)
DENSE = Candidate("dense")


@dataclass
class HeadChoice:
    head: int
    pattern: str
    params: dict
    recall: float
    density: float


def evaluate_head(q_head: torch.Tensor, k_head: torch.Tensor, candidates=DEFAULT_CANDIDATES) -> list[HeadChoice]:
    """Recall and density of every candidate for one head (q_head, k_head: [n, d])."""
    n, dim = q_head.shape
    scores = (q_head.float() @ k_head.float().T) / math.sqrt(dim)
    probs = torch.softmax(scores.masked_fill(~reference.causal_mask(n, n, q_head.device), float("-inf")), dim=-1)
    qblocks = (n + BLOCK - 1) // BLOCK
    causal_tiles = qblocks * (qblocks + 1) / 2
    q4, k4 = q_head[None, None], k_head[None, None]
    vertical_scores, slash_scores = reference.vertical_slash_scores(q4, k4)
    results = []
    for candidate in candidates:
        covered, columns = _coverage(candidate, n, q4, k4, vertical_scores, slash_scores)
        mask = reference.lists_to_mask(n, covered, columns)
        tiles = covered.sum().item() + (0 if columns is None else ((columns.sum(1) + BLOCK - 1) // BLOCK).sum().item())
        results.append(
            HeadChoice(-1, candidate.pattern, candidate.params, (probs * mask).sum().item() / n, tiles / causal_tiles)
        )
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


def search(q: torch.Tensor, k: torch.Tensor, target: float = 0.95, candidates=DEFAULT_CANDIDATES) -> list[HeadChoice]:
    """Per head, the lowest-density candidate with recall >= target; dense when none reaches it."""
    heads = q.shape[1]
    group = heads // k.shape[1]
    choices = []
    for head in range(heads):
        options = [c for c in evaluate_head(q[0, head], k[0, head // group], candidates) if c.recall >= target]
        best = min(options, key=lambda c: c.density, default=HeadChoice(-1, DENSE.pattern, {}, 1.0, 1.0))
        best.head = head
        choices.append(best)
    return choices


def save_config(path: Path, choices: list[HeadChoice], *, target: float, calibration_tokens: int, source: str) -> None:
    document = {
        "format": FORMAT_VERSION,
        "target_recall": target,
        "calibration_tokens": calibration_tokens,
        "source": source,
        "heads": [asdict(choice) for choice in choices],
    }
    Path(path).write_text(json.dumps(document, indent=1))


def load_config(path: Path) -> list[HeadChoice]:
    document = json.loads(Path(path).read_text())
    if document.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: pattern config format {document.get('format')!r}, expected {FORMAT_VERSION}")
    choices = [HeadChoice(**head) for head in document["heads"]]
    if [c.head for c in choices] != list(range(len(choices))):
        raise ValueError(f"{path}: heads must be listed once each, in order")
    known = {c.pattern for c in DEFAULT_CANDIDATES} | {DENSE.pattern}
    if unknown := {c.pattern for c in choices} - known:
        raise ValueError(f"{path}: unknown patterns {sorted(unknown)}")
    return choices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calibration", type=Path, required=True)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    tensors = torch.load(args.calibration, map_location="cuda" if torch.cuda.is_available() else "cpu")
    choices = search(tensors["q"], tensors["k"], args.target)
    save_config(args.out, choices, target=args.target, calibration_tokens=tensors["q"].shape[2],
                source=str(args.calibration))  # fmt: skip
    print(f"{'head':>4} {'pattern':<15} {'params':<36} {'recall':>7} {'density':>8}")
    for c in choices:
        print(f"{c.head:>4} {c.pattern:<15} {json.dumps(c.params):<36} {c.recall:>7.3f} {c.density:>8.3f}")
    mean_density = sum(c.density for c in choices) / len(choices)
    print(f"pattern_search heads={len(choices)} target={args.target} mean_density={mean_density:.3f}")


if __name__ == "__main__":
    main()
