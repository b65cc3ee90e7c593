"""Text embeddings with no network at run time, for the RAG example (docs/patterns.md).

Two embedders, both 256 dimensions (the size of ``product_chunks.embedding``), both returning
unit-length float32 rows, so cosine distance ranks them:

- ``wordllama``: WordLlama's ``l2_supercat`` model (token embeddings distilled from a large
  language model's, averaged). Its weights (16 MB) and tokenizer ship inside the PyPI wheel
  ``wordllama``; they are loaded from the installed package with downloads disabled, so a
  machine without a network, or a container without egress, gets the same vectors.
- ``hashing``: scikit-learn's HashingVectorizer (word unigrams and bigrams hashed into 256
  buckets): no model at all, lexical rather than semantic, and always available.

``NOTEBRIDGE_EMBEDDER`` picks one (``wordllama``, ``hashing``); unset, or ``auto``, takes
WordLlama when it is installed and falls back to hashing. Every chunk records the embedder that
made it: query with the one that built the index (catalog.py warns when they differ).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

DIMENSIONS = 256
logger = logging.getLogger("rag.embedder")


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit-length float32 row of DIMENSIONS per text."""
        ...


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` scaled to unit length, as float32; a zero row (a text of stop words only)
    becomes the same fixed unit vector, since cosine distance is undefined for zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    out[norms[:, 0] == 0] = 1 / np.sqrt(vectors.shape[1])
    return out


class WordLlamaEmbedder:
    """WordLlama ``l2_supercat`` at 256 dimensions, from the weights inside the wheel."""

    config = "l2_supercat"

    def __init__(self) -> None:
        import wordllama  # optional: the hashing fallback needs no model

        package = Path(wordllama.__file__).parent
        # WordLlama.load looks for its files in cache_dir/weights and cache_dir/tokenizers: the
        # wheel's own folders. disable_download turns a missing file into FileNotFoundError
        # rather than a request to a model hub.
        self.weights = package / "weights" / f"{self.config}_{DIMENSIONS}.safetensors"
        self.tokenizer = package / "tokenizers" / f"{self.config}_tokenizer_config.json"
        self.model = wordllama.WordLlama.load(
            config=self.config, dim=DIMENSIONS, cache_dir=package, disable_download=True
        )
        self.name = f"wordllama-{self.config}-{DIMENSIONS}"
        logger.info("embedding with %s, weights %s", self.name, self.weights)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return unit_rows(self.model.embed(list(texts), norm=False))


class HashingEmbedder:
    """Word unigrams and bigrams hashed into 256 buckets: lexical, and needs no model."""

    name = f"hashing-{DIMENSIONS}"

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self.vectorizer = HashingVectorizer(
            n_features=DIMENSIONS,
            ngram_range=(1, 2),
            stop_words="english",
            alternate_sign=False,
            norm=None,
        )
        logger.info("embedding with %s", self.name)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return unit_rows(self.vectorizer.transform(list(texts)).toarray())


def load_embedder(choice: str | None = None) -> Embedder:
    """The embedder ``choice`` (default: ``$NOTEBRIDGE_EMBEDDER``, else ``auto``) names."""
    choice = (choice or os.environ.get("NOTEBRIDGE_EMBEDDER") or "auto").strip().lower()
    if choice not in {"auto", "wordllama", "hashing"}:
        raise ValueError(f"NOTEBRIDGE_EMBEDDER={choice!r}: use wordllama, hashing or auto")
    if choice in {"auto", "wordllama"}:
        try:
            embedder: Embedder = WordLlamaEmbedder()
        except (ImportError, FileNotFoundError) as error:
            if choice == "wordllama":
                raise
            logger.warning("wordllama is not usable (%s): embedding with hashing", error)
        else:
            return embedder
    return HashingEmbedder()
