"""The tiered KV store on CUDA: the side copy stream, the pinned pool, CUDA events and the disk writer, racing
the requests that reuse the cache. CI has no GPU and skips these; on the device machine (no Django there):

    python -m pytest --noconftest -m gpu tests/test_kvtiers_cuda.py

- restores from the GPU, host and disk tiers equal a recompute (exact K/V; logits within bf16 tolerance);
- savers overwrite their KV right after each save while restorers read other prompts back and small tier
  caps keep evicting: every restored block is exactly what was saved under its key;
- POST /v1/purge for one owner (the server app over the engine) removes that owner's prefixes from the GPU,
  host and disk tiers (files too), with its side-stream copies and disk writes still pending, and no one else's;
- the source block of a side-stream copy stays alive until the copy has run (the bug fixed in 4b5660d:
  with a zero-cap GPU tier the block's memory was reused while the copy stream still read it), shown by
  the same race corrupting the copy once the fix is taken out.
"""

import hashlib
import random
import threading

import pytest
import torch

from inference.torch_engine.engine import TorchEngine
from inference.torch_engine.kvtiers import TieredKVStore
from inference.torch_engine.model import ModelArgs
from inference.torch_engine.tokenizers import ByteTokenizer
from inference.torch_engine.weights import random_model

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the device machine: pytest -m gpu)"),
]

BLOCK = 16
SHAPE = ModelArgs(vocab_size=257, dim=256, n_layers=2, n_heads=4, n_kv_heads=2, intermediate_size=512)  # d = 64


def make_store(disk_dir, *, gpu: int, host: int, disk: int = 64 << 20, codec: str = "none", model_id: str = "cuda"):
    return TieredKVStore(
        model_id=model_id, block_size=BLOCK, block_shape=(SHAPE.n_layers, SHAPE.n_kv_heads, BLOCK, SHAPE.head_dim),
        dtype=torch.bfloat16, device="cuda", gpu_bytes=gpu, host_bytes=host, disk_dir=disk_dir, disk_bytes=disk,
        codec=codec,
    )  # fmt: skip


def block_bytes() -> int:
    return 2 * SHAPE.n_layers * SHAPE.n_kv_heads * BLOCK * SHAPE.head_dim * 2


def prompt(seed: int, length: int) -> list[int]:
    return torch.randint(0, 256, (length,), generator=torch.Generator().manual_seed(seed)).tolist()


def engine_with(store: TieredKVStore) -> TorchEngine:
    model = random_model(SHAPE, dtype=torch.bfloat16, device="cuda", seed=5)
    return TorchEngine(model, ByteTokenizer(), model_name="cuda", max_tokens=1024, store=store)


@pytest.mark.parametrize("codec", ["none", "int8"])
@pytest.mark.parametrize("tier", ["gpu", "host", "disk"])
def test_a_restore_from_each_tier_equals_a_recompute(tier, codec, tmp_path):
    """A 12-block context saved, the faster tiers dropped, the cache overwritten; the next turn restores the
    context from `tier` and computes its suffix. The recompute: another engine computes the context cold and
    the same suffix over its live cache. Uncompressed, the K/V and the logits are the same bit for bit."""
    engine = engine_with(make_store(tmp_path, gpu=1 << 20, host=1 << 20, codec=codec))
    context = prompt(1, 12 * BLOCK)
    engine.prefill(context)
    computed = engine.model.kv[:, :, :, :, : 12 * BLOCK].clone()
    engine.store.save(context, engine.model.kv)
    engine.store.flush()
    for faster in {"gpu": [], "host": ["gpu"], "disk": ["gpu", "host"]}[tier]:
        engine.store.clear(faster)
    engine.model.kv.fill_(float("nan"))  # another request's KV: nothing of the context is left in the cache
    engine.live = []
    turn = context + prompt(2, 21)
    logits, cached, source = engine.prefill(turn)
    assert (cached, source) == (12 * BLOCK, tier)
    recompute = engine_with(make_store(None, gpu=0, host=0))
    recompute.prefill(context)
    expected, cached, _ = recompute.prefill(turn)
    assert cached == 12 * BLOCK  # the same suffix, computed by the same kernel
    restored = engine.model.kv[:, :, :, :, : 12 * BLOCK]
    if codec == "none" or tier == "gpu":
        assert torch.equal(restored, computed) and torch.equal(logits, expected)
        return
    step = computed.float().abs().amax(-1, keepdim=True) / 127  # int8: half a step, plus bf16 rounding
    assert ((restored.float() - computed.float()).abs() <= step).all()
    error = ((logits.float() - expected.float()).norm() / expected.float().norm()).item()
    assert 0 < error < 5e-2, error


def content(key: str) -> torch.Tensor:
    """What a block named `key` holds: a function of the key, so any prompt's blocks can be checked."""
    seed = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    shape = (SHAPE.n_layers, 2, SHAPE.n_kv_heads, BLOCK, SHAPE.head_dim)
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(torch.bfloat16)


@pytest.mark.parametrize("codec", ["none", "int8"])
def test_side_stream_copies_racing_requests_and_evictions_restore_what_was_saved(codec, tmp_path):
    """Four savers fill their KV with each prompt's blocks, save, and overwrite the KV with NaN at once
    (the next request's prefill), with the copy stream held back now and then; three restorers read
    prompts back meanwhile. Tier caps of a few blocks keep evicting (pool slots are reused). Every
    block restored holds what was saved under its key."""
    store = make_store(tmp_path, gpu=6 * block_bytes(), host=10 * block_bytes(), disk=200 * block_bytes(),
                       codec=codec)  # fmt: skip
    prompts = [prompt(100 + i % 6, 4 * BLOCK) + prompt(200 + i, (2 + i % 5) * BLOCK) for i in range(24)]
    saved: list[list[int]] = []
    errors: list[str] = []
    stop = threading.Event()
    expected = {}
    for tokens in prompts:
        for key in store.keys(tokens):
            expected[key] = content(key)

    def kv_tensor() -> torch.Tensor:
        return torch.empty(SHAPE.n_layers, 2, 1, SHAPE.n_kv_heads, 12 * BLOCK, SHAPE.head_dim,
                           dtype=torch.bfloat16, device="cuda")  # fmt: skip

    def saver(index: int) -> None:
        kv, rng = kv_tensor(), random.Random(index)
        for tokens in prompts[index::4]:
            for block, key in enumerate(store.keys(tokens)):
                kv[:, :, 0, :, block * BLOCK : (block + 1) * BLOCK].copy_(expected[key], non_blocking=True)
            if rng.random() < 0.5:
                with torch.cuda.stream(store.copy_stream):
                    torch.cuda._sleep(rng.randrange(1, 200_000))  # the side copies lag behind
            store.save(tokens, kv)
            kv.fill_(float("nan"))  # the next request's prefill overwrites the cache at once
            saved.append(tokens)

    def restorer(index: int) -> None:
        kv, rng = kv_tensor(), random.Random(100 + index)
        while not stop.is_set() or rng.random() < 0.5:
            if not saved:
                continue
            tokens = rng.choice(saved)
            kv.fill_(float("nan"))
            restored, _ = store.restore(store.match(tokens), kv)
            torch.cuda.synchronize()
            for block, key in enumerate(store.keys(tokens)[:restored]):
                got = kv[:, :, 0, :, block * BLOCK : (block + 1) * BLOCK].cpu()
                want = expected[key]
                if codec == "none":
                    ok = torch.equal(got, want)
                else:
                    ok = ((got.float() - want.float()).abs() <= want.float().abs().amax(-1, keepdim=True) / 127).all()
                if not ok:
                    errors.append(f"block {block} of a {len(tokens)}-token prompt")

    savers = [threading.Thread(target=saver, args=(i,)) for i in range(4)]
    restorers = [threading.Thread(target=restorer, args=(i,)) for i in range(3)]
    for thread in savers + restorers:
        thread.start()
    for thread in savers:
        thread.join()
    store.flush()
    stop.set()
    for thread in restorers:
        thread.join()
    assert not errors, errors[:5]
    stats = store.stats()
    assert stats["gpu_bytes"] <= 6 * block_bytes() and stats["host_bytes"] <= 10 * block_bytes()
    assert stats["disk_blocks"] > 10 and stats["pool_slots"] == 10 * block_bytes() // store.pool.slot_bytes
    store.clear("host")
    assert store.stats()["pool_free"] == stats["pool_slots"]  # every slot came back
    for tokens in prompts:  # and afterwards, from whatever tier holds them
        store.clear("gpu")
        kv = kv_tensor()
        restored, _ = store.restore(store.match(tokens), kv)
        assert restored == len(store.keys(tokens))


class WithoutTheFix(TieredKVStore):
    """The store as it was before 4b5660d: the source block is not kept alive for the side-stream copy."""

    def _copy_to_host(self, block):
        block.record_stream = lambda stream: None
        return super()._copy_to_host(block)


@pytest.mark.parametrize(
    "store_class", [TieredKVStore, pytest.param(WithoutTheFix, marks=pytest.mark.xfail(strict=True))]
)
def test_the_source_block_lives_until_its_side_stream_copy_has_run(store_class, tmp_path):
    """A zero-cap GPU tier keeps no reference to the block it copies; with the copy stream busy, the block's
    memory is handed to the next allocation on the compute stream and overwritten before the encode on
    the copy stream reads it. The host copy must still be the block that was saved."""
    store = store_class(
        model_id="lifetime", block_size=BLOCK, block_shape=(SHAPE.n_layers, SHAPE.n_kv_heads, BLOCK, SHAPE.head_dim),
        dtype=torch.bfloat16, device="cuda", gpu_bytes=0, host_bytes=64 * block_bytes(), disk_dir=None,
        disk_bytes=0, codec="int8",
    )  # fmt: skip
    tokens = prompt(7, 8 * BLOCK)
    kv = torch.randn(SHAPE.n_layers, 2, 1, SHAPE.n_kv_heads, 8 * BLOCK, SHAPE.head_dim, device="cuda").bfloat16()
    torch.cuda.synchronize()
    with torch.cuda.stream(store.copy_stream):
        torch.cuda._sleep(50_000_000)  # ~25 ms: every encode and copy of this save runs after what follows
    store.save(tokens, kv)
    junk = [torch.full_like(kv[:, :, 0, :, :BLOCK], float("nan")) for _ in range(16)]  # reuses freed blocks
    store.flush()
    del junk
    restored = torch.zeros_like(kv)
    assert store.restore(store.match(tokens), restored)[0] == 8
    error = (restored.float() - kv.float()).abs().max().item()
    assert error <= kv.float().abs().max().item() / 127, error  # int8: within a step; NaN fails
    assert store.stats()["host_blocks"] == 8


def test_the_pool_is_pinned_and_saving_into_it_takes_no_new_pinned_memory(tmp_path):
    store = make_store(None, gpu=0, host=32 * block_bytes())
    assert store.stats()["pool_slots"] == 32 and store.pool.chunks[0].is_pinned()
    kv = torch.randn(SHAPE.n_layers, 2, 1, SHAPE.n_kv_heads, 8 * BLOCK, SHAPE.head_dim, device="cuda").bfloat16()
    store.save(prompt(8, 8 * BLOCK), kv)
    store.flush()
    stats = store.stats()
    assert (stats["host_blocks"], stats["pool_free"], stats["pool_misses"]) == (8, 24, 0)
    host = next(iter(store.host.items.values()))[0].encoded.data
    assert host.is_pinned() and any(
        chunk.data_ptr() <= host.data_ptr() < chunk.data_ptr() + chunk.numel() for chunk in store.pool.chunks
    )
    store.clear("host")
    assert store.stats()["pool_free"] == 32


def test_purge_over_http_removes_one_owners_prefixes_from_every_tier(tmp_path):
    """POST /v1/purge {"user": "alice"} to the server's app over the torch engine on CUDA: alice's blocks leave
    the GPU, host and disk tiers and their files go, although her host copies (side stream) and disk writes
    were still pending when the purge came; the live cache she left is dropped; bob's blocks stay in every
    tier and still restore; her prompt is computed anew afterwards."""
    pytest.importorskip("starlette", reason="the server's app needs starlette (a wheel carried to the device)")
    from starlette.testclient import TestClient

    from inference.server.app import create_app

    store = make_store(tmp_path, gpu=64 * block_bytes(), host=64 * block_bytes())
    engine = engine_with(store)
    client = TestClient(create_app(engine))
    texts = {user: "".join(random.Random(user).choice("abcdefghij") for _ in range(8 * BLOCK + 5))
             for user in ("alice", "bob")}  # fmt: skip

    def complete(user: str) -> dict:
        body = {"model": "cuda", "prompt": texts[user], "max_tokens": 3, "temperature": 0, "user": user}
        response = client.post("/v1/completions", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    complete("bob")
    store.flush()
    with torch.cuda.stream(store.copy_stream):
        torch.cuda._sleep(200_000_000)  # ~0.1 s: alice's host copies and disk writes are queued behind this
    complete("alice")
    alice, bob = set(store.owners.keys["alice"]), set(store.owners.keys["bob"])
    assert len(alice) >= 8 and not alice & bob
    assert engine.live_owner == "alice" and engine.live
    response = client.post("/v1/purge", json={"user": "alice"})
    assert response.status_code == 200 and response.json() == {"purged": len(alice)}
    store.flush()
    for key in alice:
        assert not any(key in getattr(store, tier).items for tier in ("gpu", "host", "disk")), key
        assert not store._path(key).exists(), key
    for key in bob:
        assert all(key in getattr(store, tier).items for tier in ("gpu", "host", "disk")), key
        assert store._path(key).exists(), key
    assert engine.live == [] and "alice" not in store.owners.keys
    store.clear("gpu")
    assert complete("alice")["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    restored = complete("bob")["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert restored == 8 * BLOCK  # from the host tier: the purge left bob's blocks alone
