"""Bring the packaged GGUF model to the GPU machine, which has no weights and takes at most 64 MiB of files
per call: pieces of at most 60 MiB, one per call, each copied out of the call's repo copy into a stash
directory that survives between calls while the machine stays warm (about 30 s after each call, so the
calls must follow each other at once), then joined and checked against the pinned SHA-256 there.

Here (the development machine):

    python -m bench.upload_model split --out .wt17/pieces     # pieces + manifest.json
    python -m bench.upload_model plan --pieces .wt17/pieces   # the calls to make, in order

On the GPU machine, one call per piece (the piece carried in the call's working tree):

    python3 -m bench.upload_model stash --piece pieces/part03 --stash /root/stash
    python3 -m bench.upload_model join --stash /root/stash    # the last call: joins, checks SHA-256

Only the standard library: it runs on the device's Python before any wheel is installed.
"""

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

PIECE_BYTES = 60 << 20
MODEL_NAME = "qwen2.5-coder-0.5b-instruct.gguf"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split(model: Path, out: Path, piece_bytes: int = PIECE_BYTES) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    pieces = []
    with open(model, "rb") as handle:
        index = 0
        while chunk := handle.read(piece_bytes):
            name = f"part{index:02d}"
            (out / name).mkdir(exist_ok=True)
            (out / name / "piece.bin").write_bytes(chunk)
            pieces.append({"name": name, "bytes": len(chunk), "sha256": hashlib.sha256(chunk).hexdigest()})
            index += 1
    manifest = {"model": model.name, "bytes": model.stat().st_size, "sha256": sha256_of(model), "pieces": pieces}
    for piece in pieces:  # every piece carries the manifest: any call can check its piece and the join
        (out / piece["name"] / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def stash(piece_dir: Path, stash_dir: Path) -> None:
    manifest = json.loads((piece_dir / "manifest.json").read_text())
    entry = next(p for p in manifest["pieces"] if p["name"] == piece_dir.name)
    stash_dir.mkdir(parents=True, exist_ok=True)
    target = stash_dir / f"{piece_dir.name}.bin"
    shutil.copyfile(piece_dir / "piece.bin", target)
    if sha256_of(target) != entry["sha256"]:
        target.unlink()
        sys.exit(f"{piece_dir.name}: checksum mismatch after copying")
    (stash_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    have = sorted(p.stem for p in stash_dir.glob("part*.bin"))
    print(f"stashed {piece_dir.name} ({entry['bytes']:,} bytes); stash holds {len(have)}/{len(manifest['pieces'])}")


def join(stash_dir: Path) -> Path:
    manifest = json.loads((stash_dir / "manifest.json").read_text())
    model = stash_dir / manifest["model"]
    if model.is_file() and model.stat().st_size == manifest["bytes"] and sha256_of(model) == manifest["sha256"]:
        print(f"{model} already joined, SHA-256 {manifest['sha256']}")
        return model
    missing = [p["name"] for p in manifest["pieces"] if not (stash_dir / f"{p['name']}.bin").is_file()]
    if missing:
        sys.exit(f"missing pieces {missing}: the machine was given back between calls; start again")
    partial = model.with_suffix(".partial")
    with open(partial, "wb") as out:
        for piece in manifest["pieces"]:
            with open(stash_dir / f"{piece['name']}.bin", "rb") as handle:
                shutil.copyfileobj(handle, out, 16 << 20)
    digest = sha256_of(partial)
    if digest != manifest["sha256"]:
        partial.unlink()
        sys.exit(f"joined model SHA-256 {digest} != {manifest['sha256']}")
    partial.rename(model)
    for piece in manifest["pieces"]:
        (stash_dir / f"{piece['name']}.bin").unlink()
    print(f"joined {model}: {manifest['bytes']:,} bytes, SHA-256 {digest} (matches)")
    return model


def plan(pieces_dir: Path, repo_dir: str = ".wt17/src") -> None:
    names = sorted(p.name for p in pieces_dir.iterdir() if (p / "piece.bin").is_file())
    print(f"{len(names)} back-to-back device calls (each within ~30 s of the last one's end):")
    for index, name in enumerate(names):
        last = index == len(names) - 1
        command = f"cd {repo_dir} && python3 -m bench.upload_model stash --piece ../pieces/{name} --stash /root/stash"
        if last:
            command += " && python3 -m bench.upload_model join --stash /root/stash"
        print(f'  run carry=["{repo_dir}", ".wt17/pieces/{name}"]  command: {command}')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    split_args = verbs.add_parser("split")
    split_args.add_argument("--model", type=Path, default=None, help="default: the packaged model")
    split_args.add_argument("--out", type=Path, required=True)
    split_args.add_argument("--piece-mib", type=int, default=PIECE_BYTES >> 20)
    stash_args = verbs.add_parser("stash")
    stash_args.add_argument("--piece", type=Path, required=True)
    stash_args.add_argument("--stash", type=Path, default=Path("/root/stash"))
    join_args = verbs.add_parser("join")
    join_args.add_argument("--stash", type=Path, default=Path("/root/stash"))
    plan_args = verbs.add_parser("plan")
    plan_args.add_argument("--pieces", type=Path, required=True)
    args = parser.parse_args()
    if args.verb == "split":
        if args.model is None:
            from inference.server.model_files import resolve_model_path

            args.model = resolve_model_path()
        manifest = split(args.model, args.out, args.piece_mib << 20)
        print(f"{len(manifest['pieces'])} pieces of {args.model.name} ({manifest['bytes']:,} bytes) in {args.out}")
    elif args.verb == "stash":
        stash(args.piece, args.stash)
    elif args.verb == "join":
        join(args.stash)
    else:
        plan(args.pieces)


if __name__ == "__main__":
    main()
