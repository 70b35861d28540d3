"""Prefix KV store: saved model states keyed by a hash chain over fixed-size token blocks.

The key of a prefix of k·B tokens is h_k, where h_0 = H(model id, format version) and
h_i = H(h_{i-1}, tokens of block i). A prompt that starts with a stored prefix finds it by walking its own
chain (longest match first) and computes only the rest. Two tiers: RAM (LRU under a byte cap) and disk
(LRU under a byte cap, written crash-safe: temp file, fsync, atomic rename). A file from another model or
format, a truncated or bit-flipped file, is detected by its header and checksum and ignored (and removed).
"""

import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .kvfiles import ByteLRU, FileHeader, OwnerIndex, atomic_write, chain_hashes, index_files, prepare_directory

FORMAT_VERSION = 1
SUFFIX = ".kv"
HEADER = FileHeader(b"REMEKV01", FORMAT_VERSION, "32sQQ")  # then payload sha256, token count, payload bytes


@dataclass(frozen=True)
class Hit:
    tokens: int  # how many leading tokens of the prompt the state covers
    state: bytes
    tier: str  # "ram" or "disk"


class PrefixKVStore:
    def __init__(self, *, model_id: str, block_size: int, ram_bytes: int, disk_dir: Path | None, disk_bytes: int):
        self.model_id, self.block_size = model_id, block_size
        self.model_hash = hashlib.sha256(model_id.encode()).digest()
        self.ram, self.disk = ByteLRU(ram_bytes), ByteLRU(disk_bytes)
        self.disk_dir = Path(disk_dir) if disk_dir else None
        self.lock = threading.Lock()
        if self.disk_dir:
            prepare_directory(self.disk_dir)
            index_files(self.disk_dir, SUFFIX, self.disk)
        self.owners = OwnerIndex(self.disk_dir)

    @property
    def ram_used(self) -> int:
        return self.ram.used

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
                tokens, state = self.ram.get(key)
                return Hit(tokens, state, "ram")
        state = self._read_disk(key, expected_tokens)
        if state is None:
            return None
        self._put_ram(key, expected_tokens, state)  # promote
        return Hit(expected_tokens, state, "disk")

    # -- stores --------------------------------------------------------------------------------------

    def put(self, tokens: Sequence[int], state: bytes, owner: str = "") -> str | None:
        """Store the state of exactly `tokens` (a whole number of blocks); returns its key."""
        if not tokens or len(tokens) % self.block_size:
            raise ValueError("a stored prefix must be a whole number of blocks")
        key = chain_hashes(tokens, self.block_size, self.model_id)[-1]
        self.owners.add(owner, [key])
        self._put_ram(key, len(tokens), state)
        self._write_disk(key, len(tokens), state)
        return key

    def _put_ram(self, key: str, tokens: int, state: bytes) -> None:
        with self.lock:
            self.ram.put(key, (tokens, state), len(state))

    def purge(self, owner: str) -> int:
        """Drop every state the owner's requests stored, from RAM and disk; returns how many keys went."""
        keys = self.owners.pop(owner)
        with self.lock:
            for key in keys:
                self.ram.pop(key)
                self.disk.pop(key)
        if self.disk_dir:
            for key in keys:
                self._path(key).unlink(missing_ok=True)
        return len(keys)

    # -- disk tier -----------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.disk_dir / f"{key}{SUFFIX}"

    def _write_disk(self, key: str, tokens: int, state: bytes) -> None:
        size = len(state) + HEADER.size
        if not self.disk_dir or size > self.disk.cap:
            return
        path = self._path(key)
        if path.exists():
            os.utime(path)
            with self.lock:
                self.disk.put(key, None, size)
            return
        atomic_write(path, [HEADER.pack(self.model_hash, hashlib.sha256(state).digest(), tokens, len(state)), state])
        with self.lock:
            evicted = self.disk.put(key, None, size)
        for old in evicted:
            self._path(old).unlink(missing_ok=True)

    def _read_disk(self, key: str, expected_tokens: int) -> bytes | None:
        if not self.disk_dir:
            return None
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        fields = HEADER.fields(data, self.model_hash)
        payload = data[HEADER.size :]
        if fields is None or fields != (hashlib.sha256(payload).digest(), expected_tokens, len(payload)):
            path.unlink(missing_ok=True)  # another model's, another format's, truncated or corrupt
            with self.lock:
                self.disk.pop(key)
            return None
        os.utime(path)  # LRU across restarts by modification time
        with self.lock:
            self.disk.put(key, None, len(data))
        return payload

    def disk_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.disk_dir.glob(f"*{SUFFIX}")) if self.disk_dir else 0
