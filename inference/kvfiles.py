"""What both prefix KV stores (llama.cpp states in `inference.kvstore`, torch blocks in
`inference.torch_engine.kvtiers`) build on: a byte-capped LRU, crash-safe file writes, and a file
header that names its format and model, so a foreign or damaged file is refused, never restored."""

import hashlib
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

TEMP_SUFFIX = ".tmp"
CHAIN_VERSION = 1  # changing how keys are made orphans every stored file


def chain_hashes(tokens: Sequence[int], block_size: int, model_id: str) -> list[str]:
    """h_1 … h_n for the n full blocks of `tokens` (a partial last block has no key), where
    h_0 = H(model id, chain version) and h_i = H(h_{i-1}, tokens of block i): a key names a whole prefix,
    and two prompts share exactly the keys of their common full blocks."""
    digest = hashlib.sha256(f"{model_id}\0{CHAIN_VERSION}".encode()).digest()
    keys = []
    for start in range(0, len(tokens) - block_size + 1, block_size):
        block = struct.pack(f"<{block_size}i", *tokens[start : start + block_size])
        digest = hashlib.sha256(digest + block).digest()
        keys.append(digest.hex())
    return keys


class ByteLRU:
    """Keys → (value, bytes) under a byte cap; the least recently used go first. Not locked: each store
    holds its own lock around it."""

    def __init__(self, cap: int):
        self.cap, self.used = cap, 0
        self.items: OrderedDict[str, tuple[object, int]] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        return key in self.items

    def __len__(self) -> int:
        return len(self.items)

    def get(self, key: str):
        self.items.move_to_end(key)
        return self.items[key][0]

    def touch(self, key: str) -> None:
        if key in self.items:
            self.items.move_to_end(key)

    def put(self, key: str, value, size: int) -> list[str]:
        """Insert as the most recent; return the evicted keys (nothing is stored if `size` alone exceeds the cap)."""
        if size > self.cap:
            return []
        self.pop(key)
        self.items[key] = (value, size)
        self.used += size
        evicted = []
        while self.used > self.cap:
            old, (_, old_size) = self.items.popitem(last=False)
            self.used -= old_size
            evicted.append(old)
        return evicted

    def pop(self, key: str) -> None:
        if key in self.items:
            self.used -= self.items.pop(key)[1]

    def clear(self) -> None:
        self.items.clear()
        self.used = 0


class FileHeader:
    """magic (8 bytes), format version, model hash (32 bytes), then the store's own fields."""

    def __init__(self, magic: bytes, version: int, fields: str):
        self.magic, self.version = magic, version
        self.struct = struct.Struct("<8sI32s" + fields)

    @property
    def size(self) -> int:
        return self.struct.size

    def pack(self, model_hash: bytes, *fields) -> bytes:
        return self.struct.pack(self.magic, self.version, model_hash, *fields)

    def fields(self, data: bytes, model_hash: bytes) -> tuple | None:
        """The store's fields, or None for a short header, another format or another model's file."""
        if len(data) < self.size:
            return None
        magic, version, file_model, *rest = self.struct.unpack_from(data)
        if (magic, version, file_model) != (self.magic, self.version, model_hash):
            return None
        return tuple(rest)


def atomic_write(path: Path, chunks: Iterable) -> int:
    """Write to a temporary file, fsync, then rename: a crash leaves the old file or none, never half a one.
    Returns the bytes written."""
    temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}{TEMP_SUFFIX}")
    written = 0
    with open(temporary, "wb") as handle:
        for chunk in chunks:
            written += handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return written


def prepare_directory(directory: Path) -> None:
    """Create the store's folder and remove writes a crash interrupted."""
    directory.mkdir(parents=True, exist_ok=True)
    for leftover in directory.glob(f"*{TEMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)


def index_files(directory: Path, suffix: str, lru: ByteLRU) -> None:
    """Fill a disk tier's LRU from its files, oldest modification first, deleting what exceeds the cap."""
    files = sorted(directory.glob(f"*{suffix}"), key=lambda path: path.stat().st_mtime)
    for path in files:
        for evicted in lru.put(path.stem, None, path.stat().st_size):
            (directory / f"{evicted}{suffix}").unlink(missing_ok=True)


class OwnerIndex:
    """Which stored keys each owner's requests wrote (an owner is the opaque `user` of a request, e.g. one
    participant), so that a purge can drop all of them: states that extend the owner's prefix with a turn
    included, which no hash of the prefix alone would find. Kept in RAM and, with a folder, in one append-only
    file per owner, so a purge after a restart still finds what was written before it."""

    def __init__(self, directory: Path | None):
        self.directory = directory / "owners" if directory else None
        self.keys: dict[str, set[str]] = {}
        self.lock = threading.Lock()

    def _path(self, owner: str) -> Path:
        return self.directory / f"{hashlib.sha256(owner.encode()).hexdigest()[:32]}.keys"

    def add(self, owner: str, keys: Iterable[str]) -> None:
        if not owner:
            return
        with self.lock:
            known = self.keys.setdefault(owner, set())
            new = [key for key in keys if key not in known]
            known.update(new)
            if new and self.directory:
                self.directory.mkdir(parents=True, exist_ok=True)  # only once there is an owner to record
                with open(self._path(owner), "a") as handle:
                    handle.write("".join(f"{key}\n" for key in new))

    def pop(self, owner: str) -> set[str]:
        """Every key the owner wrote; the owner is forgotten."""
        with self.lock:
            keys = self.keys.pop(owner, set())
            if self.directory:
                path = self._path(owner)
                if path.exists():
                    keys |= set(path.read_text().split())
                    path.unlink()
        return keys
