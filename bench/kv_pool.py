"""The pause a save puts in the request thread, with and without the tiered store's pinned pool (GPU).

    python -m bench.kv_pool [--tokens 131072] [--config llama-3-8b]

A context's KV (random bf16, the config's shape) is saved to a store with the GPU tier off and a host
tier that holds it all, as bench.engine's host-restore runs do. Without the pool every block's host copy
pins fresh memory in the request thread (cudaHostAlloc, ~17 GB for 128K tokens of an 8B model on the
first pass); with it the memory is pinned once, when the store is made. Reported: the store's
construction, `save` (the request thread's pause: what delays the next request), and the wait until
the copies have landed, on a first pass and a second one (whose freed blocks the allocator may reuse).
Prints a table; the last line is `kv_pool card=… tokens=… save_pause_s_before=… save_pause_s_after=…`.
"""

import argparse
import time

import torch

from inference.torch_engine.kvtiers import TieredKVStore
from inference.torch_engine.model import NAMED

BLOCK = 256


def measure(kv: torch.Tensor, tokens: list[int], pool: bool) -> dict:
    layers, _, _, heads, _, dim = kv.shape
    kv_bytes = kv.numel() * kv.element_size()
    torch.cuda.synchronize()
    started = time.perf_counter()
    store = TieredKVStore(
        model_id=f"pool-{pool}", block_size=BLOCK, block_shape=(layers, heads, BLOCK, dim), dtype=kv.dtype,
        device="cuda", gpu_bytes=0, host_bytes=kv_bytes + (1 << 30), disk_dir=None, disk_bytes=0,
        pool_bytes=None if pool else 0,
    )  # fmt: skip
    row = {"pool": pool, "construct_s": time.perf_counter() - started}
    for name in ("first", "second"):
        torch.cuda.synchronize()
        started = time.perf_counter()
        store.save(tokens, kv)
        row[f"{name}_save_s"] = time.perf_counter() - started
        store.flush()
        row[f"{name}_landed_s"] = time.perf_counter() - started
        row[f"{name}_blocks"] = store.stats()["host_blocks"]
        store.clear("host")
        store.flush()
    row["misses"] = store.stats().get("pool_misses", 0)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=131072)
    parser.add_argument("--config", default="llama-3-8b")
    args = parser.parse_args()
    shape = NAMED[args.config]
    kv = torch.randn(shape.n_layers, 2, 1, shape.n_kv_heads, args.tokens, shape.head_dim, device="cuda").bfloat16()
    tokens = torch.randint(0, 1000, (args.tokens,)).tolist()
    rows = [measure(kv, tokens, pool=True), measure(kv, tokens, pool=False)]  # the pool first: a cold allocator
    card = torch.cuda.get_device_name()
    gb = kv.numel() * kv.element_size() / 1e9
    print(f"\n{card}, {args.config} KV of {args.tokens:,} tokens ({gb:.1f} GB) in {BLOCK}-token blocks")
    print("| store | construct s | 1st save pause s | 1st landed s | 2nd save pause s | 2nd landed s | misses |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        name = "pinned pool" if r["pool"] else "pinned per block"
        print(f"| {name} | {r['construct_s']:.2f} | {r['first_save_s']:.3f} | {r['first_landed_s']:.3f} "
              f"| {r['second_save_s']:.3f} | {r['second_landed_s']:.3f} | {r['misses']} |")  # fmt: skip
    before, after = rows[1], rows[0]
    slug = card.lower().replace("nvidia ", "").replace(" ", "-")
    print(f"kv_pool card={slug} tokens={args.tokens} save_pause_s_before={before['first_save_s']:.3f} "
          f"save_pause_s_after={after['first_save_s']:.3f} pool_construct_s={after['construct_s']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
