"""Token counts on demand, each distinct text counted once and many texts per counter call.

The counter itself comes from the model's side (`semsearch.embedding.tokenizer.TokenizerCounter`, or any function of
this type): chunking never imports the embedding layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

# The model's token count (special tokens included) for each text. It must be a pure function of each
# text: a text's count may not depend on the other texts of the call (no padding, no truncation).
TokenCounter = Callable[[Sequence[str]], list[int]]


class CountCache:
    """A memo over a `TokenCounter`: `prefetch` counts many texts in one call; a miss counts one."""

    def __init__(self, count_tokens: TokenCounter):
        self._count_tokens = count_tokens
        self._known: dict[str, int] = {}
        self.calls = 0

    def prefetch(self, texts: Iterable[str]) -> None:
        """Count, in one call to the counter, every text not counted yet."""
        known = self._known
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            self.calls += 1
            counts = self._count_tokens(missing)
            if len(counts) != len(missing):
                raise ValueError(f"token counter returned {len(counts)} counts for {len(missing)} texts")
            known.update(zip(missing, counts))

    def __call__(self, text: str) -> int:
        """The token count of one text (counted now if it was not prefetched)."""
        n = self._known.get(text)
        if n is None:
            self.prefetch([text])
            n = self._known[text]
        return n

    def clear(self) -> None:
        """Forget every count (bounds memory between batches of documents)."""
        self._known.clear()
