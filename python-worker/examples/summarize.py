"""Example worker for the ``summarize`` v1 contract: an extractive summary in pure Python.

Each sentence scores the sum of its content words' frequencies in the whole text, each
divided by the highest frequency; the best ``max_sentences`` come back in text order.
From the repository root:

    notebridge-worker run python-worker/examples/summarize.py:worker --contracts-dir contracts
"""

import re
from collections import Counter
from typing import Any

from notebridge_worker import Worker

worker = Worker(name="summarize")

DEFAULT_MAX_SENTENCES = 2  # the schema's default
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
WORD = re.compile(r"[a-z0-9']+")
STOPWORDS = frozenset(
    "a about after all also an and any are as at be been but by can could did do does for "
    "from had has have he her his how i if in into is it its just me more most my no not of "
    "on or our out over she so some such than that the their them then there these they this "
    "those to too up us very was we were what when where which while who why will with would "
    "you your".split()
)


def split_sentences(text: str) -> list[str]:
    """Split text after each ., ! or ? followed by white space."""
    return [sentence.strip() for sentence in SENTENCE_END.split(text) if sentence.strip()]


def content_words(sentence: str) -> list[str]:
    """Lower-cased words that carry meaning, with a plural ``s`` dropped ("groups" -> "group")."""
    words = [word for word in WORD.findall(sentence.lower()) if word not in STOPWORDS]
    return [
        word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
        for word in words
    ]


def score_sentences(sentences: list[str]) -> list[float]:
    """Score each sentence by the normalized frequencies of its content words."""
    words_per_sentence = [content_words(sentence) for sentence in sentences]
    frequencies = Counter(word for words in words_per_sentence for word in words)
    highest = max(frequencies.values(), default=1)
    return [sum(frequencies[word] / highest for word in words) for words in words_per_sentence]


@worker.handler("summarize", version=1)
def summarize(request: dict[str, Any]) -> dict[str, Any]:
    """Return the best sentences of ``request["text"]``, in the order they appear."""
    sentences = split_sentences(request["text"])
    scores = score_sentences(sentences)
    count = request.get("max_sentences", DEFAULT_MAX_SENTENCES)
    best_first = sorted(range(len(sentences)), key=lambda index: (-scores[index], index))
    chosen = [
        {"index": index, "text": sentences[index], "score": round(scores[index], 4)}
        for index in sorted(best_first[:count])
    ]
    return {"summary": " ".join(sentence["text"] for sentence in chosen), "sentences": chosen}
