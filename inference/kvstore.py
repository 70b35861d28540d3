"""Prefix KV store: saved model states keyed by a hash chain over fixed-size token blocks.

The key of a prefix of k·B tokens is h_k, where h_0 = H(model id, format version) and
h_i = H(h_{i-1}, tokens of block i). A prompt that starts with a stored prefix finds it by walking its own
chain (longest match first) and computes only the rest. Two tiers: RAM (LRU under a byte cap) and disk
(LRU under a byte cap, written crash-safe: temp file, fsync, atomic rename). A file from another model or
format, a truncated or bit-flipped file, is detected by its header and checksum and ignored (and removed).
"""

import hashlib
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

FORMAT_VERSION = 1
MAGIC = b"REMEKV01"
HEADER = struct.Struct("<8sI32s32sQQ")  # magic, version, model hash, payload sha256, token count, payload bytes


def chain_hashes(tokens: Sequence[int], block_size: int, model_id: str) -> list[str]:
    """h_1 … h_n for the n full blocks of `tokens` (a partial last block has no key)."""
    digest = hashlib.sha256(f"{model_id}\0{FORMAT_VERSION}".encode()).digest()
    keys = []
    for start in range(0, len(tokens) - block_size + 1, block_size):
        block = struct.pack(f"<{block_size}i", *tokens[start : start + block_size])
        digest = hashlib.sha256(digest + block).digest()
        keys.append(digest.hex())
    return keys


@dataclass(frozen=True)
class Hit:
    tokens: int  # how many leading tokens of the prompt the state covers
    state: bytes
    tier: str  # "ram" or "disk"


class PrefixKVStore:
    def __init__(self, *, model_id: str, block_size: int, ram_bytes: int, disk_dir: Path | None, disk_bytes: int):
        self.model_id, self.block_size = model_id, block_size
        self.ram_cap, self.disk_cap = ram_bytes, disk_bytes
        self.model_hash = hashlib.sha256(model_id.encode()).digest()
        self.ram: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self.ram_used = 0
        self.disk_dir = Path(disk_dir) if disk_dir else None
        self.lock = threading.Lock()
        if self.disk_dir:
            self.disk_dir.mkdir(parents=True, exist_ok=True)
            for leftover in self.disk_dir.glob("*.tmp"):  # a write that a crash interrupted
                leftover.unlink(missing_ok=True)

    # -- lookups -------------------------------------------------------------------------------------

    def longest_prefix(self, tokens: Sequence[int]) -> Hit | None:
        keys = chain_hashes(tokens, self.block_size, self.model_id)
        for index in range(len(keys) - 1, -1, -1):
            hit = self.get(keys[index], expected_tokens=(index + 1) * self.block_size)
            if hit:
                return hit
        return None

    def get(self, key: str, expected_tokens: int) -> Hit | None:
        with self.lock:
            if key in self.ram:
                self.ram.move_to_end(key)
                tokens, state = self.ram[key]
                return Hit(tokens, state, "ram")
        state = self._read_disk(key, expected_tokens)
        if state is None:
            return None
        self._put_ram(key, expected_tokens, state)  # promote
        return Hit(expected_tokens, state, "disk")

    # -- stores --------------------------------------------------------------------------------------

    def put(self, tokens: Sequence[int], state: bytes) -> str | None:
        """Store the state of exactly `tokens` (a whole number of blocks); returns its key."""
        if not tokens or len(tokens) % self.block_size:
            raise ValueError("a stored prefix must be a whole number of blocks")
        key = chain_hashes(tokens, self.block_size, self.model_id)[-1]
        self._put_ram(key, len(tokens), state)
        self._write_disk(key, len(tokens), state)
        return key

    def _put_ram(self, key: str, tokens: int, state: bytes) -> None:
        if len(state) > self.ram_cap:
            return
        with self.lock:
            if key in self.ram:
                self.ram_used -= len(self.ram.pop(key)[1])
            self.ram[key] = (tokens, state)
            self.ram_used += len(state)
            while self.ram_used > self.ram_cap:
                _, (_, evicted) = self.ram.popitem(last=False)
                self.ram_used -= len(evicted)

    # -- disk tier -----------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.disk_dir / f"{key}.kv"

    def _write_disk(self, key: str, tokens: int, state: bytes) -> None:
        if not self.disk_dir or len(state) + HEADER.size > self.disk_cap:
            return
        path = self._path(key)
        if path.exists():
            os.utime(path)
            return
        header = HEADER.pack(MAGIC, FORMAT_VERSION, self.model_hash, hashlib.sha256(state).digest(), tokens, len(state))
        temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        with open(temporary, "wb") as handle:
            handle.write(header)
            handle.write(state)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        self._evict_disk()

    def _read_disk(self, key: str, expected_tokens: int) -> bytes | None:
        if not self.disk_dir:
            return None
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if len(data) < HEADER.size or not self._valid(data, expected_tokens):
            path.unlink(missing_ok=True)  # another model's, another format's, truncated or corrupt
            return None
        os.utime(path)  # LRU by modification time
        return data[HEADER.size :]

    def _valid(self, data: bytes, expected_tokens: int) -> bool:
        magic, version, model_hash, checksum, tokens, size = HEADER.unpack_from(data)
        payload = data[HEADER.size :]
        return (
            magic == MAGIC
            and version == FORMAT_VERSION
            and model_hash == self.model_hash
            and tokens == expected_tokens
            and size == len(payload)
            and hashlib.sha256(payload).digest() == checksum
        )

    def _evict_disk(self) -> None:
        files = sorted(self.disk_dir.glob("*.kv"), key=lambda path: path.stat().st_mtime)
        used = sum(path.stat().st_size for path in files)
        for path in files:
            if used <= self.disk_cap:
                break
            used -= path.stat().st_size
            path.unlink(missing_ok=True)

    def disk_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.disk_dir.glob("*.kv")) if self.disk_dir else 0
