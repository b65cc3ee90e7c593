"""The benchmark's models served by notebridge, one request per call or in batches.

Two models a notebook might hand over, both serving score/v1 (32 features in, the most
likely of 10 classes and its probability out):

- a scikit-learn random forest (20 trees of depth 10, trained at start on a seeded synthetic
  dataset): rows B1 (``forest``, one request per call) and B64 (``forest_batched``);
- a small MLP in numpy (float32, seeded weights, two hidden layers of 512 units): rows M1
  (``mlp``) and M64 (``mlp_batched``).

A forest's ``predict_proba`` costs milliseconds per call whatever the number of rows (it
walks each tree from Python), which batching pays once per batch; the MLP's single row costs
about 0.1 ms, less than the request around it, so batching it gains much less. Row B64, for one:

    notebridge-worker run bench/python/model_worker.py:forest_batched \
        --contracts-dir bench/contracts

BLAS and OpenMP get one thread (nbbench sets it too): on a 2-core machine shared with the
gateway, NATS and wrk, a thread pool per call would only oversubscribe the cores.
"""

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # before numpy loads its BLAS

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402

from notebridge_worker import Batch, Worker  # noqa: E402

CONTRACTS = str(Path(__file__).parents[1] / "contracts")
FEATURES, HIDDEN, CLASSES = 32, 512, 10
BATCH = Batch(max_size=64, max_wait=0.002)

Model = Callable[[np.ndarray], np.ndarray]
"""Class probabilities (n by CLASSES) of n rows of features (n by FEATURES, float32)."""


def _forest() -> Model:
    features, labels = make_classification(
        n_samples=2000,
        n_features=FEATURES,
        n_informative=12,
        n_classes=CLASSES,
        random_state=6,
    )
    forest = RandomForestClassifier(n_estimators=20, max_depth=10, random_state=6, n_jobs=1)
    forest.fit(features.astype(np.float32), labels)
    return forest.predict_proba


def _mlp() -> Model:
    rng = np.random.default_rng(6)

    def layer(inputs: int, outputs: int) -> tuple[np.ndarray, np.ndarray]:
        # He-initialised weights and small biases, as a trained network's are scaled.
        weights = rng.standard_normal((inputs, outputs), dtype=np.float32) * np.sqrt(2 / inputs)
        return weights.astype(np.float32), rng.normal(0, 0.01, outputs).astype(np.float32)

    layers = [layer(FEATURES, HIDDEN), layer(HIDDEN, HIDDEN), layer(HIDDEN, CLASSES)]

    def probabilities(rows: np.ndarray) -> np.ndarray:
        activations = rows
        for weights, biases in layers[:-1]:
            activations = np.maximum(activations @ weights + biases, 0)
        weights, biases = layers[-1]
        logits = activations @ weights + biases
        logits -= logits.max(axis=1, keepdims=True)
        exponentials = np.exp(logits)
        return exponentials / exponentials.sum(axis=1, keepdims=True)

    return probabilities


def _replies(model: Model, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each request's most likely class and its probability."""
    probabilities = model(np.asarray([r["features"] for r in requests], dtype=np.float32))
    labels = probabilities.argmax(axis=1)
    confidences = probabilities[np.arange(len(requests)), labels]
    return [
        {"label": int(label), "confidence": float(confidence)}
        for label, confidence in zip(labels, confidences, strict=True)
    ]


def _workers(name: str, model: Model) -> tuple[Worker, Worker]:
    """The model served one request per call, and in batches."""
    one_by_one = Worker(name=f"bench-{name}", contracts_dir=CONTRACTS)
    batched = Worker(name=f"bench-{name}-batched", contracts_dir=CONTRACTS)

    @one_by_one.handler("score", version=1)
    def score(request: dict[str, Any]) -> dict[str, Any]:
        return _replies(model, [request])[0]

    @batched.handler("score", version=1, batch=BATCH)
    def score_batch(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _replies(model, requests)

    return one_by_one, batched


forest, forest_batched = _workers("forest", _forest())
mlp, mlp_batched = _workers("mlp", _mlp())
