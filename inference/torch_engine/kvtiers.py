"""Tiered prefix KV store for the torch engine: GPU memory → pinned host memory → disk.

Same keys as the CPU engine's store (`inference.kvfiles.chain_hashes`): block i of a prompt is named
by a hash chain over the model id and every token up to the end of block i, so a key names a whole
prefix and two prompts share exactly the blocks of their common prefix. Unlike the CPU store, which
keeps llama.cpp's opaque state per prefix, this one keeps each block's K/V ([layers, 2, kv heads,
block, d], a strided view of the model's KV tensor), so prompts that share a life log share its blocks.

- Every tier has a byte cap and its own LRU. Blocks of a prompt are touched last-first, so within a
  prefix the tail is evicted before the head and the longest usable prefix survives longest.
- Writes go through all tiers: the GPU copy at once; the host copy on a side CUDA stream (compressed
  on the GPU first when a codec is set, so only the smaller bytes cross PCIe); the disk copy by a
  writer thread once the host copy has landed (temp file, fsync, rename). A restart starts warm from disk.
- A lookup walks the chain from block 0 and takes each block from its fastest tier; disk blocks are
  read ahead by a thread pool and promoted to the host tier.
- Disk files carry the model hash, codec, token count and a CRC32: another model's, a truncated or a
  corrupt file is refused and removed, never restored.
- Host copies and disk reads land in a pinned pool allocated when the store is made (`PinnedPool`, one
  slot per block), not in memory pinned block by block in the request thread: pinning is slow and a
  first 128K save would otherwise pin ~17 GB while the request waits. A slot returns to the pool when
  its block is dropped (evicted, written and no longer restored); its next user waits for the copies
  queued before that. When the pool is empty, blocks are pinned one by one as before.
"""

import hashlib
import os
import queue
import threading
import weakref
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from inference.kvfiles import (
    ByteLRU,
    FileHeader,
    OwnerIndex,
    atomic_write,
    chain_hashes,
    index_files,
    prepare_directory,
)

from .codec import Encoded, decode, encode, scale_shape, storage_dtype

FORMAT_VERSION = 1
SUFFIX = ".kvb"
HEADER = FileHeader(b"REMEKVB1", FORMAT_VERSION, "8sIQQI")  # then codec, tokens, data bytes, scale bytes, crc32
TIERS = ("gpu", "host", "disk")
DISK_READERS = 8
POOL_CHUNK = 1 << 30  # the pinned pool is allocated in chunks of this size (of whole slots)


class PinnedPool:
    """Equal slots of pinned host memory, allocated up front. `take` hands out a free slot (None when
    all are in use) as a uint8 tensor; the slot comes back when the tensor handed out (and every view
    of it the caller keeps in one object, see `bind`) is gone. Reuse is ordered after the device
    copies queued on the given streams before the slot came back."""

    def __init__(self, slot_bytes: int, slots: int, streams: Sequence = (), pin: bool = True):
        self.slot_bytes, self.streams = slot_bytes, list(streams)
        per_chunk = max(1, POOL_CHUNK // slot_bytes)
        self.chunks = [
            torch.empty(min(per_chunk, slots - first) * slot_bytes, dtype=torch.uint8, pin_memory=pin)
            for first in range(0, slots, per_chunk)
        ]
        self.slots = [chunk[i * slot_bytes : (i + 1) * slot_bytes] for chunk in self.chunks
                      for i in range(chunk.numel() // slot_bytes)]  # fmt: skip
        self.free: list[int] = list(range(len(self.slots)))
        self.released: dict[int, list] = {}  # slot → events recorded when it came back
        self.lock = threading.Lock()
        self.misses = 0

    def take(self, wait_on_host: bool = False, stream=None) -> tuple[int, torch.Tensor] | None:
        """A free slot, or None. Before it is reused, `stream` waits for the copies queued when it came
        back (a device copy into it), or the calling thread does (`wait_on_host`: a CPU write)."""
        with self.lock:
            if not self.free:
                self.misses += 1
                return None
            index = self.free.pop()
            events = self.released.pop(index, [])
        for event in events:
            if wait_on_host:
                event.synchronize()
            elif stream is not None:
                stream.wait_event(event)
        return index, self.slots[index]

    def bind(self, owner, index: int) -> None:
        """Give slot `index` back when `owner` (the object holding the slot's views) is collected."""
        weakref.finalize(owner, self.give_back, index).atexit = False

    def give_back(self, index: int) -> None:
        events = []
        if self.streams:
            for stream in {torch.cuda.current_stream(self.streams[0].device), *self.streams}:
                event = torch.cuda.Event()
                event.record(stream)
                events.append(event)
        with self.lock:
            self.released[index] = events
            self.free.append(index)

    def stats(self) -> dict:
        with self.lock:
            return {"pool_slots": len(self.slots), "pool_free": len(self.free), "pool_misses": self.misses}


@dataclass
class HostBlock:
    encoded: Encoded  # in pinned host memory when the GPU is CUDA
    ready: torch.cuda.Event | None  # the async device→host copy; None when already complete

    def wait(self) -> None:
        if self.ready is not None:
            self.ready.synchronize()


class TieredKVStore:
    def __init__(
        self,
        *,
        model_id: str,
        block_size: int,
        block_shape: tuple[int, int, int, int],  # layers, kv heads, block tokens, d (K and V both)
        dtype: torch.dtype,
        device: torch.device | str,
        gpu_bytes: int,
        host_bytes: int,
        disk_dir: Path | None,
        disk_bytes: int,
        codec: str = "none",
        pool_bytes: int | None = None,  # pinned pool for host copies and disk reads; None: the host cap
    ):
        layers, heads, tokens, dim = block_shape
        if tokens != block_size:
            raise ValueError("block_shape's token count must be the block size")
        self.model_id, self.block_size, self.dtype, self.codec = model_id, block_size, dtype, codec
        self.device = torch.device(device)
        self.shape = (layers, 2, heads, block_size, dim)
        self.model_hash = hashlib.sha256(f"{model_id}\0{FORMAT_VERSION}".encode()).digest()
        self.gpu, self.host, self.disk = ByteLRU(gpu_bytes), ByteLRU(host_bytes), ByteLRU(disk_bytes)
        self.lock = threading.RLock()
        self.cuda = self.device.type == "cuda"
        self.copy_stream = torch.cuda.Stream(self.device) if self.cuda else None
        self.data_dtype = storage_dtype(dtype, codec)
        self.data_bytes = torch.Size(self.shape).numel() * self.data_dtype.itemsize
        scales = scale_shape(self.shape, codec)
        self.scale_bytes = torch.Size(scales).numel() * 4 if scales else 0
        self.scale_offset = -(-self.data_bytes // 64) * 64  # scales start 64-byte aligned in a pool slot
        slot = -(-(self.scale_offset + self.scale_bytes) // 64) * 64
        slots = (host_bytes if pool_bytes is None else pool_bytes) // slot
        # on the CPU only when asked for (disk reads then land in it; host copies share the block)
        wanted = self.cuda or pool_bytes is not None
        self.pool = (
            PinnedPool(slot, slots, [self.copy_stream] if self.cuda else [], self.cuda) if wanted and slots else None
        )
        self.disk_dir = Path(disk_dir) if disk_dir else None
        self.pending_disk: set[str] = set()
        self.writes: queue.Queue = queue.Queue()
        self.readers = ThreadPoolExecutor(DISK_READERS, thread_name_prefix="kv-disk-read")
        if self.disk_dir:
            prepare_directory(self.disk_dir)
            index_files(self.disk_dir, SUFFIX, self.disk)
            threading.Thread(target=self._disk_writer, name="kv-disk-write", daemon=True).start()
        self.owners = OwnerIndex(self.disk_dir)

    # -- lookups -------------------------------------------------------------------------------------

    def keys(self, tokens: Sequence[int]) -> list[str]:
        return chain_hashes(tokens, self.block_size, self.model_id)

    def match(self, tokens: Sequence[int]) -> list[tuple[str, str]]:
        """(key, fastest tier) for the stored blocks that continue the prompt from its first token."""
        found = []
        with self.lock:
            for key in self.keys(tokens):
                tier = next((name for name in TIERS if key in getattr(self, name)), None)
                if tier is None:
                    break
                found.append((key, tier))
        return found

    def restore(self, blocks: list[tuple[str, str]], kv: torch.Tensor, first: int = 0) -> tuple[int, dict[str, int]]:
        """Copy blocks[first:] into the KV tensor [layers, 2, 1, heads, tokens, d] at their positions.
        Returns how many leading blocks the KV tensor now holds and how many came from each tier. A
        block that vanished meanwhile (evicted, or a corrupt file) ends the restore early: the caller
        recomputes from there."""
        counts = dict.fromkeys(TIERS, 0)
        restored = first
        disk_reads = {
            index: self.readers.submit(self._read_disk, key)
            for index, (key, tier) in enumerate(blocks)
            if index >= first and tier == "disk"
        }
        try:
            for index in range(first, len(blocks)):
                key, tier = blocks[index]
                block = self._fetch(key, tier, disk_reads.get(index))
                if block is None:
                    break
                start = index * self.block_size
                kv[:, :, 0, :, start : start + self.block_size].copy_(block, non_blocking=True)
                counts[tier] += 1
                restored = index + 1
        finally:
            for future in disk_reads.values():
                future.cancel()
        with self.lock:
            for key, _ in reversed(blocks[:restored]):
                for lru in (self.gpu, self.host, self.disk):
                    lru.touch(key)
        return restored, counts

    def _fetch(self, key: str, tier: str, disk_read) -> torch.Tensor | None:
        with self.lock:
            if tier == "gpu" and key in self.gpu:
                return self.gpu.get(key)
            host = self.host.get(key) if key in self.host else None
        if host is None and disk_read is not None:
            encoded = disk_read.result()
            if encoded is None:
                return None
            host = HostBlock(encoded, None)
            with self.lock:
                self.host.put(key, host, encoded.nbytes)
        if host is None:
            return None
        if host.ready is not None and self.cuda:
            torch.cuda.current_stream(self.device).wait_event(host.ready)
        else:
            host.wait()
        return decode(host.encoded.to(self.device, non_blocking=True), self.dtype)

    # -- stores --------------------------------------------------------------------------------------

    def save(self, tokens: Sequence[int], kv: torch.Tensor, upto: int | None = None, owner: str = "") -> int:
        """Store the full blocks of tokens[:upto] that the KV tensor holds; returns how many were new."""
        keys = self.keys(tokens[: len(tokens) if upto is None else upto])
        self.owners.add(owner, keys)
        new = 0
        # last block first: when a prompt is bigger than a tier, its head is what stays
        for index, key in reversed(list(enumerate(keys))):
            start = index * self.block_size
            view = kv[:, :, 0, :, start : start + self.block_size]
            with self.lock:
                in_gpu, in_host = key in self.gpu, key in self.host
                on_disk = not self.disk_dir or not self.disk.cap or key in self.disk or key in self.pending_disk
                source = self.gpu.get(key) if in_gpu else None
            if (in_gpu or self.gpu.cap == 0) and (in_host or self.host.cap == 0) and on_disk:
                continue  # every tier that can hold it does (a zero-cap tier is off)
            new += not (in_gpu or in_host or key in self.disk)
            source = view.clone() if source is None else source  # immutable: the KV tensor is overwritten later
            if not in_gpu:
                with self.lock:
                    self.gpu.put(key, source, source.nbytes)
            want_host = not in_host and self.host.cap > 0
            if want_host or not on_disk:  # the disk copy is written from a host copy
                host = self._copy_to_host(source)
                with self.lock:
                    if want_host:
                        self.host.put(key, host, host.encoded.nbytes)
                    if not on_disk:
                        self.pending_disk.add(key)
                        self.writes.put((key, host))
        with self.lock:
            for key in reversed(keys):
                for lru in (self.gpu, self.host, self.disk):
                    lru.touch(key)
        return new

    def _copy_to_host(self, block: torch.Tensor) -> HostBlock:
        if not self.cuda:  # CPU tensors: the "GPU" and host tiers may share the immutable block
            return HostBlock(encode(block, self.codec), None)
        current = torch.cuda.current_stream(self.device)
        self.copy_stream.wait_stream(current)  # the block is written on the compute stream
        slot = self.pool.take(stream=self.copy_stream) if self.pool else None
        with torch.cuda.stream(self.copy_stream):
            encoded = encode(block, self.codec)
            for tensor in (block, encoded.data, encoded.scale):
                if tensor is not None:
                    tensor.record_stream(self.copy_stream)  # keep it alive until the copy has run
            if slot is None:
                host = encoded.to("cpu", non_blocking=True, pin=True)
            else:
                host = self._slot_encoded(slot)
                host.data.copy_(encoded.data, non_blocking=True)
                if encoded.scale is not None:
                    host.scale.copy_(encoded.scale, non_blocking=True)
            ready = torch.cuda.Event()
            ready.record(self.copy_stream)
        return HostBlock(host, ready)

    def _slot_encoded(self, slot: tuple[int, torch.Tensor]) -> Encoded:
        """An Encoded block laid over a pool slot; the slot goes back to the pool with it."""
        index, memory = slot
        data = memory[: self.data_bytes].view(self.data_dtype).view(self.shape)
        scales = scale_shape(self.shape, self.codec)
        offset = self.scale_offset
        scale = memory[offset : offset + self.scale_bytes].view(torch.float32).view(scales) if scales else None
        encoded = Encoded(data, scale)
        self.pool.bind(encoded, index)
        return encoded

    def flush(self) -> None:
        """Wait until every host copy and disk write queued so far has landed."""
        if self.copy_stream is not None:
            self.copy_stream.synchronize()
        if self.disk_dir:
            self.writes.join()

    def clear(self, tier: str) -> None:
        """Drop one tier's copies (benchmarks and tests restore from a chosen tier this way)."""
        with self.lock:
            getattr(self, tier).clear()
        if tier == "disk" and self.disk_dir:
            self.flush()
            for path in self.disk_dir.glob(f"*{SUFFIX}"):
                path.unlink(missing_ok=True)

    def purge(self, owner: str) -> int:
        """Drop every block the owner's requests stored, from every tier, disk files included (after the
        pending writes landed, so none comes back); returns how many keys went."""
        keys = self.owners.pop(owner)
        self.flush()
        with self.lock:
            for key in keys:
                for lru in (self.gpu, self.host, self.disk):
                    lru.pop(key)
        if self.disk_dir:
            for key in keys:
                self._path(key).unlink(missing_ok=True)
        return len(keys)

    def stats(self) -> dict:
        with self.lock:
            stats = {f"{tier}_bytes": getattr(self, tier).used for tier in TIERS} | {
                f"{tier}_blocks": len(getattr(self, tier).items) for tier in TIERS
            }
        return stats | (self.pool.stats() if self.pool else {})

    # -- disk tier -----------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.disk_dir / f"{key}{SUFFIX}"

    def _disk_writer(self) -> None:
        while True:
            key, host = self.writes.get()
            try:
                host.wait()
                size = self._write_disk(key, host.encoded)
                with self.lock:
                    evicted = self.disk.put(key, None, size)
                    if key not in self.disk:  # bigger than the whole tier
                        evicted.append(key)
                for old in evicted:
                    self._path(old).unlink(missing_ok=True)
            except OSError as error:  # a full or failing disk loses only this tier's copy
                print(f"kv store: could not write block {key[:12]}: {error}", flush=True)
            finally:
                host = None  # a pool slot comes back once its block is written and evicted: hold it no longer
                with self.lock:
                    self.pending_disk.discard(key)
                self.writes.task_done()

    def _write_disk(self, key: str, encoded: Encoded) -> int:
        empty = torch.empty(0, dtype=torch.uint8)
        data, scale = (
            (t if t is not None else empty).contiguous().view(torch.uint8).reshape(-1).numpy()
            for t in (encoded.data, encoded.scale)
        )
        crc = zlib.crc32(scale, zlib.crc32(data))
        codec = self.codec.encode().ljust(8, b"\0")
        header = HEADER.pack(self.model_hash, codec, self.block_size, data.nbytes, scale.nbytes, crc)
        return atomic_write(self._path(key), [header, data, scale])

    def _read_disk(self, key: str) -> Encoded | None:
        path = self._path(key)
        data_dtype = storage_dtype(self.dtype, self.codec)
        data_bytes = torch.Size(self.shape).numel() * data_dtype.itemsize
        scales = scale_shape(self.shape, self.codec)
        scale_bytes = torch.Size(scales).numel() * 4 if scales else 0
        slot = self.pool.take(wait_on_host=True) if self.pool else None  # read straight into pinned memory
        try:
            with open(path, "rb") as handle:
                header = handle.read(HEADER.size)
                if slot is None:
                    data = torch.empty(data_bytes, dtype=torch.uint8, pin_memory=self.cuda)
                    scale = torch.empty(scale_bytes, dtype=torch.uint8, pin_memory=self.cuda)
                else:
                    data = slot[1][:data_bytes]
                    scale = slot[1][self.scale_offset : self.scale_offset + scale_bytes]
                complete = len(header) == HEADER.size and handle.readinto(data.numpy()) == data_bytes
                complete = complete and handle.readinto(scale.numpy()) == scale_bytes and not handle.read(1)
        except FileNotFoundError:
            self._forget_disk(key)
            return self._unused(slot)
        if not complete or not self._valid(header, data, scale, data_bytes, scale_bytes):
            path.unlink(missing_ok=True)  # another model's or format's, truncated or corrupt
            self._forget_disk(key)
            return self._unused(slot)
        os.utime(path)  # LRU across restarts by modification time
        encoded = Encoded(
            data.view(data_dtype).view(self.shape),
            scale.view(torch.float32).view(scales) if scales else None,
        )
        if slot is not None:
            self.pool.bind(encoded, slot[0])
        return encoded

    def _unused(self, slot) -> None:
        if slot is not None:
            self.pool.give_back(slot[0])

    def _valid(self, header: bytes, data, scale, data_bytes: int, scale_bytes: int) -> bool:
        fields = HEADER.fields(header, self.model_hash)
        if fields is None:
            return False
        codec, tokens, size, scale_size, crc = fields
        return (
            codec.rstrip(b"\0").decode(errors="replace") == self.codec
            and tokens == self.block_size
            and (size, scale_size) == (data_bytes, scale_bytes)
            and zlib.crc32(scale.numpy(), zlib.crc32(data.numpy())) == crc
        )

    def _forget_disk(self, key: str) -> None:
        with self.lock:
            self.disk.pop(key)
