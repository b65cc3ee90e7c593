"""The RAG example's embedders (python-worker/examples/rag/embedder.py): WordLlama from the
weights its wheel installs, with no network, and scikit-learn's HashingVectorizer instead of
it when it is missing or not wanted."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import PYTHON_WORKER

RAG = PYTHON_WORKER / "examples" / "rag"
sys.path.insert(0, str(RAG))
import embedder  # noqa: E402  (the example's module, from its folder)

DOCUMENTS = [
    "The flysheet keeps the tent dry in steady rain.",
    "A stainless steel kettle that boils water in four minutes.",
]
QUESTION = "Will the tent keep me dry when it rains?"

# Run in a fresh interpreter: no socket may connect, and the home directory (where a model
# cache would go) is empty.
OFFLINE = """
import json, socket, sys
def refuse(*args, **kwargs):
    raise OSError("no network in this test")
socket.socket.connect = refuse
socket.create_connection = refuse
sys.path.insert(0, sys.argv[1])
if sys.argv[2] == "no-wordllama":
    sys.modules["wordllama"] = None  # import wordllama raises ImportError
import embedder
chosen = embedder.load_embedder()
vectors = chosen.embed(["a tent", "a kettle"])
print(json.dumps({"name": chosen.name, "shape": list(vectors.shape),
                  "weights": str(getattr(chosen, "weights", ""))}))
"""


def run_offline(home: Path, mode: str = "", **env: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE, str(RAG), mode],
        env={**os.environ, "HOME": str(home), "HF_HUB_OFFLINE": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_wordllama_weights_are_files_of_its_installed_wheel() -> None:
    model = embedder.WordLlamaEmbedder()
    # The wheel's RECORD lists both files: they came with `pip install`, not from a hub.
    shipped = {str(f): f for f in importlib.metadata.files("wordllama") or []}
    distribution = importlib.metadata.distribution("wordllama")
    for path in (model.weights, model.tokenizer):
        relative = path.relative_to(Path(str(distribution.locate_file(""))))
        assert str(relative) in shipped, f"{relative} is not in the wordllama wheel"
        assert path.is_file()
    assert model.weights.stat().st_size > 10_000_000
    assert model.name == "wordllama-l2_supercat-256"


def test_wordllama_loads_with_no_network_and_no_cache(tmp_path: Path) -> None:
    result = run_offline(tmp_path)
    assert result["name"] == "wordllama-l2_supercat-256"
    assert result["shape"] == [2, 256]
    assert "site-packages" in str(result["weights"])
    assert list(tmp_path.iterdir()) == [], "something was written to the home directory"


def test_hashing_is_the_fallback_without_wordllama_or_when_asked(tmp_path: Path) -> None:
    assert run_offline(tmp_path, "no-wordllama")["name"] == "hashing-256"
    asked = run_offline(tmp_path, NOTEBRIDGE_EMBEDDER="hashing")
    assert (asked["name"], asked["shape"]) == ("hashing-256", [2, 256])
    with pytest.raises(ValueError, match="use wordllama, hashing or auto"):
        embedder.load_embedder("bert")


@pytest.mark.parametrize("choice", ["wordllama", "hashing"])
def test_both_embedders_give_unit_rows_that_rank_by_meaning(choice: str) -> None:
    model = embedder.load_embedder(choice)
    vectors = model.embed([QUESTION, *DOCUMENTS, "the and of"])
    assert vectors.shape == (4, embedder.DIMENSIONS)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    # Cosine: the tent's sentence is nearer the question than the kettle's.
    assert vectors[1] @ vectors[0] > vectors[2] @ vectors[0]
    # Deterministic: the same text, the same vector.
    assert np.array_equal(model.embed([QUESTION])[0], vectors[0])
