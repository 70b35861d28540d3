"""The prefix KV store on its own: hash-chain lookups, RAM and disk LRU, restarts, corrupt files."""

import os
import threading

import pytest

from inference.kvfiles import chain_hashes
from inference.kvstore import PrefixKVStore

B = 4  # tokens per block


def store(tmp_path, ram=1000, disk=10_000, model="model-a"):
    return PrefixKVStore(model_id=model, block_size=B, ram_bytes=ram, disk_dir=tmp_path / "kv", disk_bytes=disk)


def state(n: int) -> bytes:
    return bytes([n % 251]) * (10 * n)


def test_chain_hash_depends_on_every_earlier_token_and_the_model():
    tokens = list(range(12))
    keys = chain_hashes(tokens, B, "m")
    assert len(keys) == 3 and chain_hashes([*tokens, 99], B, "m") == keys  # a partial block has no key
    changed = chain_hashes([100, *tokens[1:]], B, "m")
    assert all(a != b for a, b in zip(keys, changed, strict=True))
    assert chain_hashes(tokens, B, "other")[0] != keys[0]


def test_longest_stored_prefix_wins_and_divergence_inside_a_block_falls_back(tmp_path):
    kv = store(tmp_path)
    prompt = list(range(22))
    kv.put(prompt[:8], state(8))
    kv.put(prompt[:16], state(16))
    hit = kv.longest_prefix(prompt)
    assert (hit.tokens, hit.state, hit.tier) == (16, state(16), "ram")
    diverged = [*prompt[:13], 999, *prompt[14:]]  # differs inside the 4th block
    assert kv.longest_prefix(diverged).tokens == 8
    assert kv.longest_prefix([7, 7, 7, 7, 7]) is None
    with pytest.raises(ValueError):
        kv.put(prompt[:6], state(6))


def test_ram_is_an_lru_under_its_byte_cap(tmp_path):
    kv = PrefixKVStore(model_id="m", block_size=B, ram_bytes=250, disk_dir=None, disk_bytes=0)
    a, b, c = [1] * 4, [2] * 4, [3] * 4
    kv.put(a, b"a" * 100)
    kv.put(b, b"b" * 100)
    assert kv.longest_prefix(a).tier == "ram"  # a is now the most recent
    kv.put(c, b"c" * 100)  # over the cap: b, the least recent, goes
    assert kv.longest_prefix(b) is None and kv.longest_prefix(a) and kv.longest_prefix(c)
    assert kv.ram_used == 200


def test_disk_survives_a_restart_and_is_promoted(tmp_path):
    tokens = list(range(8))
    store(tmp_path).put(tokens, state(8))
    restarted = store(tmp_path)
    first, second = restarted.longest_prefix(tokens), restarted.longest_prefix(tokens)
    assert (first.tier, first.state, second.tier) == ("disk", state(8), "ram")


def test_disk_is_an_lru_under_its_byte_cap(tmp_path):
    kv = store(tmp_path, ram=0, disk=2 * (100 + 96))  # room for two 100-byte states with their headers
    prompts = [[n] * 4 for n in range(3)]
    for index, prompt in enumerate(prompts):
        kv.put(prompt, bytes(100))
        os.utime(kv._path(chain_hashes(prompt, B, "model-a")[-1]), (index, index))  # distinct ages
    kv.put([9] * 4, bytes(100))
    assert kv.disk_bytes() <= 2 * (100 + 96)
    assert kv.longest_prefix(prompts[0]) is None and kv.longest_prefix([9] * 4)


@pytest.mark.parametrize("damage", ["flip", "truncate", "other_model", "empty"])
def test_corrupt_or_foreign_files_are_ignored_and_removed(tmp_path, damage):
    tokens = list(range(8))
    key = store(tmp_path).put(tokens, state(8))
    path = tmp_path / "kv" / f"{key}.kv"
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-1] ^= 0xFF
    elif damage == "truncate":
        data = data[:-5]
    elif damage == "empty":
        data = bytearray()
    else:
        other = store(tmp_path / "other", model="model-b")
        data = bytearray((tmp_path / "other" / "kv" / f"{other.put(tokens, state(8))}.kv").read_bytes())
    path.write_bytes(bytes(data))
    assert store(tmp_path).longest_prefix(tokens) is None
    assert not path.exists()


def test_an_interrupted_write_leaves_no_partial_file(tmp_path):
    kv = store(tmp_path)
    (tmp_path / "kv" / "deadbeef.123.456.tmp").write_bytes(b"half a state")
    store(tmp_path)
    assert not list((tmp_path / "kv").glob("*.tmp"))
    assert kv.longest_prefix(list(range(8))) is None


def test_concurrent_puts_and_gets(tmp_path):
    kv = store(tmp_path, ram=5_000, disk=50_000)
    errors = []

    def work(seed: int) -> None:
        try:
            for n in range(30):
                prompt = [seed] * 4 + [n % 5] * 4
                kv.put(prompt, state(8 + n % 5))
                hit = kv.longest_prefix([*prompt, 1, 2])
                assert hit is not None and hit.tokens == 8
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and kv.ram_used <= 5_000
