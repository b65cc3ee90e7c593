"""Example worker for the ``sentiment`` v1 contract: a multinomial naive Bayes classifier.

It is trained when the module is imported, on the labelled reviews in data/reviews.tsv.
The handler is a plain ``def``, so the worker runs it in its thread pool. From the
repository root:

    notebridge-worker run python-worker/examples/sentiment.py:worker --contracts-dir contracts
"""

import math
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from notebridge_worker import Worker

TRAINING_DATA = Path(__file__).parent / "data" / "reviews.tsv"
WORD = re.compile(r"[a-z']+")


def tokenize(text: str) -> list[str]:
    """Lower-cased words of ``text``."""
    return WORD.findall(text.lower())


class NaiveBayes:
    """Multinomial naive Bayes over words, with Laplace (add-one) smoothing."""

    def __init__(self, examples: Iterable[tuple[str, str]]) -> None:
        self.documents: Counter[str] = Counter()
        self.word_counts: dict[str, Counter[str]] = {}
        for label, text in examples:
            self.documents[label] += 1
            self.word_counts.setdefault(label, Counter()).update(tokenize(text))
        self.vocabulary = set().union(*self.word_counts.values())
        self.total_words = {label: sum(c.values()) for label, c in self.word_counts.items()}

    def classify(self, text: str) -> tuple[str, float]:
        """Return the most probable label and its posterior probability."""
        # Words never seen in training say nothing about any label.
        words = [word for word in tokenize(text) if word in self.vocabulary]
        all_documents = sum(self.documents.values())
        log_scores = {
            label: math.log(self.documents[label] / all_documents)
            + sum(
                math.log(
                    (self.word_counts[label][word] + 1)
                    / (self.total_words[label] + len(self.vocabulary))
                )
                for word in words
            )
            for label in self.documents
        }
        best = max(log_scores, key=log_scores.__getitem__)
        # Posterior by softmax, shifted by the best score so that exp() cannot overflow.
        evidence = sum(math.exp(score - log_scores[best]) for score in log_scores.values())
        return best, 1 / evidence


def read_examples(path: Path) -> Iterable[tuple[str, str]]:
    """(label, text) pairs from a ``label<TAB>text`` file."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            label, text = line.split("\t", 1)
            yield label, text


model = NaiveBayes(read_examples(TRAINING_DATA))
worker = Worker(name="sentiment")


@worker.handler("sentiment", version=1)
def sentiment(request: dict[str, Any]) -> dict[str, Any]:
    """Classify a review as positive or negative."""
    label, probability = model.classify(request["text"])
    return {"label": label, "confidence": round(probability, 4)}
