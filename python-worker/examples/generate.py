"""Example worker for the ``generate`` v1 stream contract: a tiny text generator.

A word-level Markov chain of order 2 is trained when the module is imported, on the story in
data/lighthouse.txt. The handler is an async generator: it continues the prompt one token at
a time, yielding each as a chunk ``{"text": " word"}``, with a short sleep in between so that
the stream is visible (``curl -N``). The same request always gives the same text: each
choice is drawn from a random generator seeded by the prompt. From the repository root:

    notebridge-worker run python-worker/examples/generate.py:worker --contracts-dir contracts
"""

import asyncio
import hashlib
import random
import re
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from notebridge_worker import Worker

TRAINING_TEXT = Path(__file__).parent / "data" / "lighthouse.txt"
TOKEN = re.compile(r"[A-Za-z']+|[.,:;!?]")
PUNCTUATION = frozenset(".,:;!?")
SENTENCE_END = frozenset(".!?")
ORDER = 2
DEFAULT_MAX_TOKENS = 40  # the schema's default
DEFAULT_DELAY_MS = 60


class MarkovChain:
    """Which token follows each run of ``order`` tokens in a text, and how often.

    States are lower-cased, so a prompt matches whatever its case; the tokens it yields keep
    the case they had in the text.
    """

    def __init__(self, text: str, order: int = ORDER) -> None:
        # The text starts a sentence, as if a sentence ended before it.
        tokens = [".", *TOKEN.findall(text)]
        self.order = order
        self.successors: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
        for index in range(len(tokens) - order):
            self.successors[_key(tokens[index : index + order])][tokens[index + order]] += 1
        # Where a sentence starts: the states whose last token follows a sentence end.
        self.sentence_starts = sorted(
            state for state in self.successors if state[-2] in SENTENCE_END
        )
        self.surface = {token.lower(): token for token in tokens}

    def continue_text(self, prompt: str, rng: random.Random) -> Iterator[str]:
        """Yield the tokens that continue ``prompt``, forever (the caller stops)."""
        state, opening = self._start(_key(TOKEN.findall(prompt)), rng)
        yield from opening
        while True:
            options = self.successors.get(state)
            if not options:  # the end of the text: a new sentence
                state = rng.choice(self.sentence_starts)
                yield self._capitalized(state[-1])
                continue
            tokens = sorted(options)
            token = rng.choices(tokens, weights=[options[t] for t in tokens])[0]
            yield token
            state = (*state[1:], token.lower())

    def _start(
        self, prompt: tuple[str, ...], rng: random.Random
    ) -> tuple[tuple[str, ...], list[str]]:
        """The state to continue from, and the tokens to say first to get there."""
        if prompt[-self.order :] in self.successors:
            return prompt[-self.order :], []
        if prompt:
            ending = sorted(state for state in self.successors if state[-1] == prompt[-1])
            if ending:
                return rng.choice(ending), []
        state = rng.choice(self.sentence_starts)
        return state, [self._capitalized(state[-1])]

    def _capitalized(self, key: str) -> str:
        token = self.surface[key]
        return token[:1].upper() + token[1:]


def _key(tokens: list[str]) -> tuple[str, ...]:
    return tuple(token.lower() for token in tokens)


def spaced(token: str) -> str:
    """A token as it is appended to the text so far: words after a space, punctuation not."""
    return token if token in PUNCTUATION else " " + token


model = MarkovChain(TRAINING_TEXT.read_text())
worker = Worker(name="generate")


@worker.handler("generate", version=1)
async def generate(request: dict[str, Any]) -> AsyncIterator[dict[str, str]]:
    """Continue the prompt for up to ``max_tokens`` tokens, one chunk per token."""
    seed = hashlib.sha256(request["prompt"].encode()).digest()
    tokens = model.continue_text(request["prompt"], random.Random(seed))
    delay = request.get("delay_ms", DEFAULT_DELAY_MS) / 1000
    for number in range(request.get("max_tokens", DEFAULT_MAX_TOKENS)):
        if number and delay:
            await asyncio.sleep(delay)  # a real model would be computing the next token here
        yield {"text": spaced(next(tokens))}
