"""Token counts on demand, each distinct text counted once and many texts per counter call."""

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


class TokenizerCounter:
    """Exact token counts from a Hugging Face `tokenizer.json`, each pre-tokenized word counted once.

    A fast tokenizer normalises a text, pre-tokenizes it into words and runs its model on each word on
    its own, so a text's count is the special tokens plus the sum of its words' counts. This counter
    runs the tokenizer's own normaliser and pre-tokenizer and remembers each word's model count, which
    gives the same numbers as `Tokenizer.encode` (no truncation, no padding) at a fraction of the cost.
    A text holding an added token (`<s>`, `[CLS]`, ...) goes through `encode` itself.
    It is picklable (the tokenizer is reloaded from its file), so a process pool can use it.
    """

    def __init__(self, path, cache_size: int = 500_000):
        from pathlib import Path

        self.path = Path(path)
        self.cache_size = cache_size
        self._load()

    def _load(self) -> None:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(self.path))
        tok.no_truncation()
        tok.no_padding()
        self._tokenizer = tok
        self._specials = tok.num_special_tokens_to_add(False)
        self._added = tuple(t.content for t in tok.get_added_tokens_decoder().values() if t.content)
        self._words: dict[str, int] = {}

    def __getstate__(self) -> dict:
        return {"path": self.path, "cache_size": self.cache_size}

    def __setstate__(self, state: dict) -> None:
        self.path, self.cache_size = state["path"], state["cache_size"]
        self._load()

    def __call__(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text as the model sees it, special tokens included, before truncation."""
        tok = self._tokenizer
        normalize = tok.normalizer.normalize_str if tok.normalizer is not None else str
        pre_tokenize = tok.pre_tokenizer.pre_tokenize_str if tok.pre_tokenizer is not None else (lambda s: [(s, None)])
        model, words, added = tok.model, self._words, self._added
        if len(words) > self.cache_size:
            words.clear()
        counts = []
        for text in texts:
            normalized = normalize(text)
            if any(a in text or a in normalized for a in added):
                counts.append(len(tok.encode(text).ids))
                continue
            n = self._specials
            for word, _ in pre_tokenize(normalized):
                c = words.get(word)
                if c is None:
                    c = words[word] = len(model.tokenize(word))
                n += c
            counts.append(n)
        return counts
