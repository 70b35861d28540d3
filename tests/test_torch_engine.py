"""The torch engine and its tiered prefix KV store on the CPU: a tiny random Llama-shaped model through
the float32 reference attention. Restoring a prefix from any tier gives the logits of computing it
(exactly, or within the codec's tolerance); eviction keeps heads of prefixes; disk blocks survive a
restart and bad files are refused; a prompt that diverges inside a block reuses only the whole blocks
before it; concurrent requests sharing a prefix get the answers they would get alone."""

import logging
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from inference.kvfiles import chain_hashes
from inference.torch_engine import kvtiers
from inference.torch_engine.attention import AttentionPolicy, SparsePrefill, StreamingDrop
from inference.torch_engine.codec import Encoded
from inference.torch_engine.engine import TorchEngine
from inference.torch_engine.kvtiers import HEADER, TieredKVStore
from inference.torch_engine.model import NAMED, ModelArgs
from inference.torch_engine.tokenizers import ByteTokenizer
from inference.torch_engine.weights import fingerprint, random_model
from kernels import reference
from kernels.pattern_search import Calibration, HeadChoice, ScalingRule

BLOCK = 16
MB = 1 << 20


def make_store(model, disk_dir: Path | None, *, gpu=MB, host=MB, disk=8 * MB, codec="none", model_id=None):
    args = model.args
    return TieredKVStore(
        model_id=model_id or fingerprint(model, "tiny"), block_size=BLOCK,
        block_shape=(args.n_layers, args.n_kv_heads, BLOCK, args.head_dim), dtype=torch.float32, device="cpu",
        gpu_bytes=gpu, host_bytes=host, disk_dir=disk_dir, disk_bytes=disk, codec=codec,
    )  # fmt: skip


def make_engine(disk_dir: Path | None = None, **store_options) -> TorchEngine:
    model = random_model("tiny", dtype=torch.float32, device="cpu", seed=7)
    return TorchEngine(model, ByteTokenizer(), model_name="tiny", max_tokens=512,
                       store=make_store(model, disk_dir, **store_options))  # fmt: skip


def prompt(seed: int, length: int) -> list[int]:
    return torch.randint(0, 256, (length,), generator=torch.Generator().manual_seed(seed)).tolist()


def cold_logits(tokens: list[int]) -> torch.Tensor:
    engine = make_engine(gpu=0, host=0)
    logits, cached, _ = engine.prefill(tokens)
    assert cached == 0
    return logits


def forget_live(engine: TorchEngine) -> None:
    """As if another participant's request had used the cache since."""
    engine.prefill(prompt(999, 40))


@pytest.mark.parametrize("tier", ["gpu", "host", "disk"])
def test_a_prefix_restored_from_each_tier_gives_the_recomputed_logits(tier, tmp_path):
    engine = make_engine(tmp_path)
    context = prompt(1, 5 * BLOCK + 3)
    engine.prefill(context)
    engine.store.save(context, engine.model.kv)
    engine.store.flush()
    faster = {"gpu": [], "host": ["gpu"], "disk": ["gpu", "host"]}[tier]
    for name in faster:
        engine.store.clear(name)
    forget_live(engine)
    turn = context + prompt(2, 9)
    logits, cached, source = engine.prefill(turn)
    assert (cached, source) == (5 * BLOCK, tier)
    torch.testing.assert_close(logits, cold_logits(turn), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("codec, tolerance", [("fp8", 0.15), ("int8", 0.03)])
def test_compressed_host_and_disk_copies_stay_within_the_codec_tolerance(codec, tolerance, tmp_path):
    engine = make_engine(tmp_path, codec=codec)
    context = prompt(3, 6 * BLOCK)
    engine.prefill(context)
    engine.store.save(context, engine.model.kv)
    engine.store.flush()
    assert engine.store.stats()["host_bytes"] < engine.store.stats()["gpu_bytes"] / 3  # 1 byte vs 4 per value
    turn = context + prompt(4, 7)
    expected = cold_logits(turn)
    for tier in ("gpu", "host"):
        engine.store.clear(tier)
        forget_live(engine)
        logits, cached, source = engine.prefill(turn)
        assert cached == 6 * BLOCK and source in ("host", "disk")
        error = (logits - expected).abs().max() / expected.abs().max()
        assert 0 < error < tolerance, (source, error)  # not exact (it is compressed), but close


def test_the_live_cache_serves_the_next_turn_without_a_restore():
    engine = make_engine()
    context = prompt(5, 3 * BLOCK + 4)
    engine.prefill(context)
    turn = context + prompt(6, 5)
    logits, cached, source = engine.prefill(turn)
    assert (cached, source) == (len(context), "context")
    torch.testing.assert_close(logits, cold_logits(turn), atol=1e-5, rtol=1e-5)


def test_a_prompt_that_diverges_inside_a_block_reuses_only_the_whole_blocks_before_it():
    engine = make_engine()
    context = prompt(7, 4 * BLOCK)
    engine.prefill(context)
    engine.store.save(context, engine.model.kv)
    forget_live(engine)
    diverging = [*context[: 2 * BLOCK + 5], (context[2 * BLOCK + 5] + 1) % 256, *context[2 * BLOCK + 6 :]]
    logits, cached, source = engine.prefill(diverging)
    assert (cached, source) == (2 * BLOCK, "gpu")
    torch.testing.assert_close(logits, cold_logits(diverging), atol=1e-5, rtol=1e-5)


def test_eviction_drops_least_recently_used_blocks_and_the_tails_of_prefixes_first():
    engine = make_engine(gpu=0, host=0)
    block_bytes = engine.model.kv_bytes_per_token() * BLOCK
    store = make_store(engine.model, None, gpu=4 * block_bytes, host=0)
    first, second = prompt(8, 3 * BLOCK), prompt(9, 3 * BLOCK)
    for tokens in (first, second):
        engine.prefill(tokens)
        store.save(tokens, engine.model.kv)
    # 6 blocks into room for 4: the first prompt (least recent) loses its tail, keeps its head
    assert [tier for _, tier in store.match(first)] == ["gpu"]
    assert len(store.match(second)) == 3
    # using the first prompt's head makes the second prompt's tail the least recent
    store.restore(store.match(first), engine.model.kv)
    third = prompt(10, BLOCK)
    engine.prefill(third)
    store.save(third, engine.model.kv)
    assert len(store.match(first)) == 1 and len(store.match(second)) == 2 and len(store.match(third)) == 1
    assert store.stats()["gpu_bytes"] <= 4 * block_bytes


def test_a_block_bigger_than_a_tier_is_not_stored_there(tmp_path):
    engine = make_engine(tmp_path, gpu=1, host=MB, disk=100)
    context = prompt(11, 2 * BLOCK)
    engine.prefill(context)
    engine.store.save(context, engine.model.kv)
    engine.store.flush()
    assert [tier for _, tier in engine.store.match(context)] == ["host", "host"]
    assert not list(tmp_path.iterdir())  # no file the disk tier would not account for


def test_disk_blocks_survive_a_restart_and_bad_files_are_refused(tmp_path):
    engine = make_engine(tmp_path)
    context = prompt(12, 4 * BLOCK + 2)
    engine.prefill(context)
    engine.store.save(context, engine.model.kv)
    engine.store.flush()
    files = sorted(tmp_path.glob("*.kvb"))
    assert len(files) == 4

    restarted = make_engine(tmp_path)  # a new process: empty GPU and host tiers, the same directory
    assert [tier for _, tier in restarted.store.match(context)] == ["disk"] * 4
    logits, cached, source = restarted.prefill([*context, 1, 2, 3])
    assert (cached, source) == (4 * BLOCK, "disk")
    torch.testing.assert_close(logits, cold_logits([*context, 1, 2, 3]), atol=1e-5, rtol=1e-5)

    # a flipped byte in block 2: the restore stops there, recomputes the rest and removes the file
    keys = restarted.store.keys(context)
    data = bytearray((tmp_path / f"{keys[2]}.kvb").read_bytes())
    data[-7] ^= 0xFF
    (tmp_path / f"{keys[2]}.kvb").write_bytes(bytes(data))
    again = make_engine(tmp_path)
    logits, cached, source = again.prefill([*context, 1, 2, 3])
    assert (cached, source) == (2 * BLOCK, "disk")
    torch.testing.assert_close(logits, cold_logits([*context, 1, 2, 3]), atol=1e-5, rtol=1e-5)
    assert not (tmp_path / f"{keys[2]}.kvb").exists()
    # a truncated block 1, the same
    (tmp_path / f"{keys[1]}.kvb").write_bytes((tmp_path / f"{keys[1]}.kvb").read_bytes()[:100])
    again = make_engine(tmp_path)
    assert again.prefill([*context, 1, 2, 3])[1:] == (BLOCK, "disk")
    assert not (tmp_path / f"{keys[1]}.kvb").exists()

    # another model's store in the same directory finds nothing, even under the same keys
    assert make_store(again.model, tmp_path, model_id="other-model").match(context) == []
    other_key = chain_hashes(context, BLOCK, "other-model")[0]
    (tmp_path / f"{keys[0]}.kvb").rename(tmp_path / f"{other_key}.kvb")
    other = make_store(again.model, tmp_path, model_id="other-model")
    assert other.match(context)[0][1] == "disk"
    assert other.restore(other.match(context), again.model.kv)[0] == 0  # wrong model hash: refused


def test_purge_drops_one_owners_blocks_from_every_tier_and_the_live_cache(tmp_path):
    engine = make_engine(tmp_path)
    mine, theirs = prompt(21, 3 * BLOCK + 2), prompt(22, 3 * BLOCK + 2)
    for owner, tokens in (("them", theirs), ("me", mine)):
        with engine.lock:
            "".join(engine.generate(tokens, max_tokens=2, temperature=0, stop=[], cancelled=lambda: False,
                                    owner=owner).text_pieces)  # fmt: skip
    engine.store.flush()
    assert engine.purge("me") == 3
    assert engine.store.match(mine) == [] and engine.live == []
    assert not {path.stem for path in tmp_path.glob("*.kvb")} & set(engine.store.keys(mine))
    assert len(engine.store.match(theirs)) == 3
    restarted = make_engine(tmp_path)  # the owner's index is on disk too: a purge after a restart finds all
    assert restarted.purge("them") == 3 and restarted.store.match(theirs) == []
    assert not list(tmp_path.glob("*.kvb"))


def test_the_disk_tier_is_capped_and_leftover_temporary_files_are_removed(tmp_path):
    (tmp_path / "abc.123.tmp").write_bytes(b"half a block")
    model = random_model("tiny", dtype=torch.float32, device="cpu", seed=7)
    engine = make_engine(tmp_path, disk=3 * (model.kv_bytes_per_token() * BLOCK + HEADER.size))  # room for 3 blocks
    context = prompt(13, 5 * BLOCK)
    engine.prefill(context)
    engine.store.save(context, engine.model.kv)
    engine.store.flush()
    assert not list(tmp_path.glob("*.tmp"))
    assert len(list(tmp_path.glob("*.kvb"))) == 3
    engine.store.clear("gpu")
    engine.store.clear("host")
    assert len(engine.store.match(context)) == 3  # the head of the prefix stayed


def test_concurrent_requests_sharing_a_prefix_get_their_own_answers():
    context = prompt(14, 6 * BLOCK)
    questions = [prompt(20 + i, 6) for i in range(4)]

    def answer(engine: TorchEngine, tokens: list[int]) -> str:
        with engine.lock:
            generation = engine.generate(tokens, max_tokens=8, temperature=0.0, stop=[], cancelled=lambda: False)
            return "".join(generation.text_pieces)

    alone = [answer(make_engine(gpu=0, host=0), context + q) for q in questions]
    shared = make_engine()
    results: dict[int, str] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, answer(shared, context + questions[i])))
               for i in range(4)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[i] for i in range(4)] == alone
    metrics = shared.metrics.as_dict()
    assert metrics["requests"] == 4 and metrics["prefix_cache_hit_tokens"] >= 3 * 6 * BLOCK


def test_sparse_and_drop_policies_change_only_long_cold_prefills_and_drop_changes_everything():
    policy = AttentionPolicy(mode="sparse", sparse_threshold=128)
    assert policy.for_step(100, 0) == policy.dense
    assert policy.for_step(200, 50) == policy.dense
    assert policy.for_step(200, 0) is policy.sparse
    drop = AttentionPolicy(mode="drop", drop=StreamingDrop(sinks=4, window=16))
    assert drop.for_step(1, 500) is drop.drop
    with pytest.raises(ValueError):
        AttentionPolicy(mode="fast")


def test_a_prompt_longer_than_the_context_is_refused():
    engine = make_engine()
    with engine.lock, pytest.raises(ValueError, match="exceeds the context"):
        engine.generate(prompt(15, 500), max_tokens=20, temperature=0.0, stop=[], cancelled=lambda: False)


def test_the_tiny_config_is_a_gqa_llama():
    args = NAMED["tiny"]
    assert args.n_heads == 2 * args.n_kv_heads and args.vocab_size == ByteTokenizer.vocab_size


def test_per_head_patterns_run_together_and_cover_everything_at_full_budget():
    def choice(head, pattern, **params):
        return HeadChoice(head=head, pattern=pattern, params=params, recall=1.0, density=1.0)

    # fmt: off
    full = {0: [choice(0, "dense"), choice(1, "vertical_slash", vertical=512, slash=512),
                choice(2, "a_shape", sink_blocks=1, local_blocks=64), choice(3, "block_sparse", blocks=64)]}
    narrow = {0: [choice(0, "a_shape", sink_blocks=1, local_blocks=1),
                  choice(1, "vertical_slash", vertical=4, slash=8),
                  choice(2, "a_shape", sink_blocks=1, local_blocks=1), choice(3, "block_sparse", blocks=1)]}
    # fmt: on
    tokens = prompt(16, 300)
    expected = cold_logits(tokens)
    results = {}
    for name, patterns in (("full", full), ("narrow", narrow)):
        engine = make_engine(gpu=0, host=0)
        engine.policy = AttentionPolicy(mode="sparse", sparse_threshold=256, sparse=SparsePrefill(patterns))
        results[name] = engine.prefill(tokens)[0]
    torch.testing.assert_close(results["full"], expected, atol=1e-5, rtol=1e-5)
    assert (results["narrow"] - expected).abs().max() > 1e-3  # a narrow pattern really drops attention


# d = 64, as the Triton kernels need; two query heads on one K/V head (GQA)
KERNEL_SHAPE = ModelArgs(vocab_size=257, dim=128, n_layers=2, n_heads=2, n_kv_heads=1, intermediate_size=256)


def test_the_engine_through_its_triton_kernels_gives_the_reference_logits():
    """The GPU path (prefix-attention and sparse kernels) run by Triton's interpreter on the CPU: a cold
    prefill, a full-budget sparse prefill, and a suffix after a restored prefix."""

    def engine_with(kernels: bool, mode: str = "dense") -> TorchEngine:
        model = random_model(KERNEL_SHAPE, dtype=torch.float32, device="cpu", seed=3)
        full = HeadChoice(head=0, pattern="vertical_slash", params={"vertical": 512, "slash": 512}, recall=1.0,
                          density=1.0)  # fmt: skip
        policy = AttentionPolicy(mode=mode, sparse_threshold=128, kernels=kernels,
                                 sparse=SparsePrefill({0: [full, replace(full, head=1)]}))  # fmt: skip
        return TorchEngine(model, ByteTokenizer(), model_name="k", max_tokens=512, policy=policy,
                           store=make_store(model, None, model_id="kernels"))  # fmt: skip

    context, suffix = prompt(17, 4 * BLOCK + 8), prompt(18, 20)
    reference = engine_with(kernels=False)
    expected_cold = reference.prefill(context)[0]
    expected_turn = reference.prefill(context + suffix)[0]
    for mode in ("dense", "sparse"):
        engine = engine_with(kernels=True, mode=mode)
        torch.testing.assert_close(engine.prefill(context)[0], expected_cold, atol=1e-4, rtol=1e-4)
        engine.store.save(context, engine.model.kv)
        engine.store.clear("gpu")
        forget_live(engine)
        logits, cached, source = engine.prefill(context + suffix)
        assert (cached, source) == (4 * BLOCK, "host")
        torch.testing.assert_close(logits, expected_turn, atol=1e-4, rtol=1e-4)


def three_ways_agree(choices: list[HeadChoice], q, k, v) -> dict[str, torch.Tensor]:
    """One layer's heads run fused (one launch), one launch per pattern and by the reference over the exact masks:
    asserts that the three agree and returns them."""
    outputs = {
        name: SparsePrefill({0: choices}, kernels=kernels, fused=fused)(q, k, v, layer=0)
        for name, fused, kernels in (("fused", True, True), ("per pattern", False, True), ("reference", True, False))
    }
    torch.testing.assert_close(outputs["fused"], outputs["per pattern"], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(outputs["fused"], outputs["reference"], atol=1e-5, rtol=1e-5)
    return outputs


def test_one_launch_for_every_pattern_of_a_layer_gives_the_per_pattern_launches():
    """Dense, vertical-slash, A-shape and block-sparse heads in one layer through the Triton kernels (run by the
    interpreter): the fused path (the sparse heads' lists stacked into one scheduled launch, the dense heads
    beside it) gives the outputs of one launch per pattern, and both the exact masks' reference."""
    shape = ModelArgs(vocab_size=257, dim=256, n_layers=1, n_heads=4, n_kv_heads=2, intermediate_size=256)
    choices = [HeadChoice(head=0, pattern="block_sparse", params={"blocks": 2}, recall=1.0, density=1.0),
               HeadChoice(head=1, pattern="dense", params={}, recall=1.0, density=1.0),
               HeadChoice(head=2, pattern="vertical_slash", params={"vertical": 16, "slash": 8}, recall=1.0,
                          density=1.0),
               HeadChoice(head=3, pattern="a_shape", params={"sink_blocks": 1, "local_blocks": 1}, recall=1.0,
                          density=1.0)]  # fmt: skip
    generator = torch.Generator().manual_seed(23)
    q = torch.randn(1, shape.n_heads, 300, shape.head_dim, generator=generator)
    k, v = (torch.randn(1, shape.n_kv_heads, 300, shape.head_dim, generator=generator) for _ in range(2))
    outputs = three_ways_agree(choices, q, k, v)
    dense = reference.prefix_attention(q, k, v)
    assert (outputs["fused"][:, [0, 2, 3]] - dense[:, [0, 2, 3]]).abs().max() > 1e-3  # the sparse heads drop keys
    # unaligned slash ranges: the kernels equal the ranges' masks; only the vertical-slash head changes
    ranges = {kernels: SparsePrefill({0: choices}, kernels=kernels, slash_ranges=True)(q, k, v, layer=0)
              for kernels in (True, False)}  # fmt: skip
    torch.testing.assert_close(ranges[True], ranges[False], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ranges[True][:, [0, 1, 3]], outputs["fused"][:, [0, 1, 3]], atol=1e-6, rtol=1e-6)
    assert (ranges[True][:, 2] - outputs["fused"][:, 2]).abs().max() > 1e-4


def test_antidiagonal_heads_through_the_engine_equal_their_masks():
    """Antidiagonal-threshold heads (two thresholds) beside a dense head: the fused launch, one launch per pattern
    and the reference over the lists' exact masks agree; the sparse heads drop keys, the looser threshold more."""
    heads, kv_heads, n, dim = 4, 2, 500, 64
    params = [{"threshold": 0.3, "stride": 16}, {}, {"threshold": 0.6, "stride": 16}, {"threshold": 0.3, "stride": 16}]
    choices = [HeadChoice(head=h, pattern="dense" if not p else "antidiagonal", params=p, recall=1.0, density=1.0)
               for h, p in enumerate(params)]  # fmt: skip
    generator = torch.Generator().manual_seed(31)
    q = torch.randn(1, heads, n, dim, generator=generator)
    k, v = (torch.randn(1, kv_heads, n, dim, generator=generator) for _ in range(2))
    outputs = three_ways_agree(choices, q, k, v)
    error = (outputs["fused"] - reference.prefix_attention(q, k, v)).flatten(2).norm(dim=-1)[0]
    assert error[1] < 1e-4 and error[2] > 1e-3 and error[0] > error[2] and error[3] > error[2]


def test_wide_tiles_through_the_engine_equal_their_widened_masks():
    """128-row query tiles (SparsePrefill(wide=True)): the kernels (the interpreter) give the reference over each
    head's widened mask, the dense head stays dense, and the sparse heads see more keys than with 64-row tiles
    (closer to dense), while still fewer than dense."""
    shape = ModelArgs(vocab_size=257, dim=256, n_layers=1, n_heads=4, n_kv_heads=2, intermediate_size=256)
    choices = [HeadChoice(head=0, pattern="block_sparse", params={"blocks": 2}, recall=1.0, density=1.0),
               HeadChoice(head=1, pattern="dense", params={}, recall=1.0, density=1.0),
               HeadChoice(head=2, pattern="vertical_slash", params={"vertical": 16, "slash": 8}, recall=1.0,
                          density=1.0),
               HeadChoice(head=3, pattern="a_shape", params={"sink_blocks": 1, "local_blocks": 1}, recall=1.0,
                          density=1.0)]  # fmt: skip
    generator = torch.Generator().manual_seed(29)
    q = torch.randn(1, shape.n_heads, 450, shape.head_dim, generator=generator)
    k, v = (torch.randn(1, shape.n_kv_heads, 450, shape.head_dim, generator=generator) for _ in range(2))
    wide = {
        kernels: SparsePrefill({0: choices}, kernels=kernels, wide=True)(q, k, v, layer=0) for kernels in (True, False)
    }
    torch.testing.assert_close(wide[True], wide[False], atol=1e-5, rtol=1e-5)
    narrow = SparsePrefill({0: choices}, kernels=False)(q, k, v, layer=0)
    dense = reference.prefix_attention(q, k, v)
    torch.testing.assert_close(wide[True][:, 1], dense[:, 1], atol=1e-5, rtol=1e-5)
    for head in (0, 2, 3):
        error_wide = (wide[True][:, head] - dense[:, head]).norm()
        error_narrow = (narrow[:, head] - dense[:, head]).norm()
        assert 1e-4 < error_wide < error_narrow, head
    with pytest.raises(ValueError, match="slash_ranges"):
        SparsePrefill({0: choices}, wide=True, slash_ranges=True)


def test_a_pattern_config_past_its_calibrated_lengths_is_refused_with_a_log_unless_it_has_a_scaling_rule(caplog):
    """Narrow patterns calibrated at 128 tokens: a 300-token prefill refuses them (runs dense, logs why);
    with a scaling rule the carried (wider) budgets run sparse; at the calibrated length they run as is."""
    narrow = [HeadChoice(head=h, pattern="a_shape", params={"sink_blocks": 1, "local_blocks": 1}, recall=0.9,
                         density=0.5) for h in range(4)]  # fmt: skip
    tokens = prompt(19, 300)
    expected = cold_logits(tokens)

    def run(calibration: Calibration) -> tuple[torch.Tensor, SparsePrefill]:
        engine = make_engine(gpu=0, host=0)
        sparse = SparsePrefill({0: calibration})
        engine.policy = AttentionPolicy(mode="sparse", sparse_threshold=128, sparse=sparse)
        return engine.prefill(tokens)[0], sparse

    with caplog.at_level(logging.WARNING, logger="inference.torch_engine.attention"):
        refused, sparse = run(Calibration({128: narrow}, target=0.9))
    torch.testing.assert_close(refused, expected, atol=1e-5, rtol=1e-5)
    assert sparse.refusals == [(0, 300), (1, 300)]
    assert "calibrated at [128] tokens and has no scaling rule" in caplog.text
    carried, sparse = run(Calibration({128: narrow}, target=0.9, scaling=ScalingRule((0.0,) * 4)))
    assert sparse.refusals == [] and (carried - expected).abs().max() > 1e-3  # narrow budgets kept: sparse
    # exponent 1 carries 1 local block at 128 tokens to ceil(300 / 128) = 3 blocks
    wider = SparsePrefill({0: Calibration({128: narrow}, target=0.9, scaling=ScalingRule((1.0,) * 4))})
    assert wider.choices(0, 4, 300)[0].params == {"sink_blocks": 1, "local_blocks": 3}


@pytest.mark.parametrize("sinks, window, prompt_tokens, new_tokens", [(4, 16, 300, 300), (64, 100, 300, 300),
                                                                      (4, 64, 300, 1), (8, 32, 290, 37)])  # fmt: skip
def test_windowed_drop_equals_its_full_mask(sinks, window, prompt_tokens, new_tokens):
    """StreamingDrop runs a window of queries at a time over the sinks and their window's keys: the same
    attention as the full [m, n] mask (prefill, decode step, suffix)."""
    g = torch.Generator().manual_seed(prompt_tokens + window)
    q = torch.randn(1, 4, new_tokens, 64, generator=g)
    k, v = (torch.randn(1, 2, prompt_tokens, 64, generator=g) for _ in range(2))
    drop = StreamingDrop(sinks=sinks, window=window)
    positions = torch.arange(prompt_tokens - new_tokens, prompt_tokens)
    full = drop.kept(positions, torch.arange(prompt_tokens))
    expected = reference.masked_attention(q, k, v, full)
    torch.testing.assert_close(drop(q, k, v), expected, atol=1e-5, rtol=1e-5)
    assert full.sum(-1).max() <= sinks + window  # what each query keeps is bounded


def test_the_pool_hands_out_each_slot_once_and_takes_it_back_when_its_holder_is_gone(monkeypatch):
    monkeypatch.setattr(kvtiers, "POOL_CHUNK", 3 * 64)  # three slots per chunk: 7 slots in 3 chunks
    pool = kvtiers.PinnedPool(64, 7, pin=False)
    assert [chunk.numel() for chunk in pool.chunks] == [192, 192, 64]
    holders = []
    for _ in range(7):
        index, memory = pool.take()
        memory.fill_(index)
        holder = Encoded(memory.view(torch.int8), None)
        pool.bind(holder, index)
        holders.append(holder)
    assert pool.take() is None and pool.stats() == {"pool_slots": 7, "pool_free": 0, "pool_misses": 1}
    assert sorted({int(h.data[0]) for h in holders}) == list(range(7))  # seven distinct slots, none shared
    del holders[3:5]
    assert pool.stats()["pool_free"] == 2
    again = {pool.take()[0], pool.take()[0]}
    assert len(again) == 2 and pool.take() is None


def test_disk_reads_land_in_the_pool_and_a_refused_file_gives_its_slot_back(tmp_path):
    engine = make_engine(tmp_path)
    context = prompt(21, 4 * BLOCK)
    engine.prefill(context)
    engine.store.save(context, engine.model.kv)
    engine.store.flush()
    slot = engine.store.data_bytes
    reader = make_store(engine.model, tmp_path, gpu=0, host=2 * slot)  # fits two blocks of the four
    reader.pool = kvtiers.PinnedPool(slot, 4, pin=False)
    blocks = reader.match(context)
    assert [tier for _, tier in blocks] == ["disk"] * 4
    kv = torch.zeros_like(engine.model.kv)
    assert reader.restore(blocks, kv)[0] == 4
    torch.testing.assert_close(kv[:, :, :, :, : 4 * BLOCK], engine.model.kv[:, :, :, :, : 4 * BLOCK])
    stats = reader.stats()  # four reads into four slots; the two blocks the host tier evicted gave theirs back
    assert (stats["host_blocks"], stats["pool_free"], stats["pool_misses"]) == (2, 2, 0)
    reader.clear("host")
    assert reader.pool.stats()["pool_free"] == 4
    path = reader._path(blocks[1][0])
    path.write_bytes(path.read_bytes()[:-7])  # truncated: refused, its slot given back
    assert reader.restore(reader.match(context), torch.zeros_like(kv))[0] == 1
    reader.readers.shutdown(wait=True)  # reads ahead of the refused block finish (and are dropped)
    assert reader.pool.stats()["pool_free"] + reader.stats()["host_blocks"] == 4  # no slot lost
