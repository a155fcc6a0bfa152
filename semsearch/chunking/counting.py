"""Token counts on demand, each distinct text counted once and many texts per counter call."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

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
    It is picklable (the tokenizer is reloaded from its file), so a process pool can use it. The file
    (17 MB for e5, ~0.5 s) is loaded on the first count, so a build with nothing to chunk never pays for it.
    """

    def __init__(self, path: str | Path, cache_size: int = 500_000, loaded: Callable[[], object] | None = None):
        self.path = Path(path)
        self.cache_size = cache_size
        self._loaded = loaded  # gives the file's tokenizer already loaded and shared elsewhere (not pickled)
        self._tokenizer = None
        self._words: dict[str, int] = {}

    def _load(self, path: Path | None = None) -> None:
        import re

        from semsearch import runtimes

        Tokenizer = runtimes.load("tokenizers").Tokenizer
        tok = self._loaded() if self._loaded is not None and path is None else Tokenizer.from_file(str(path or self.path))
        tok.no_truncation()  # the sharer uses the vocabulary only, never these settings
        tok.no_padding()
        self._tokenizer = tok
        self._specials = tok.num_special_tokens_to_add(False)
        added = sorted({t.content for t in tok.get_added_tokens_decoder().values() if t.content})
        self._added = re.compile("|".join(map(re.escape, added))) if added else None
        self._metaspace = _plain_metaspace(tok)

    def forget(self) -> None:
        """Drop the cached word counts (counts stay exact either way; this only frees memory)."""
        self._words.clear()

    def __getstate__(self) -> dict:
        return {"path": self.path, "cache_size": self.cache_size}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"], state["cache_size"])

    def __call__(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text as the model sees it, special tokens included, before truncation."""
        if self._tokenizer is None:
            self._load()
        tok = self._tokenizer
        normalize = tok.normalizer.normalize_str if tok.normalizer is not None else str
        pre_tokenize = tok.pre_tokenizer.pre_tokenize_str if tok.pre_tokenizer is not None else (lambda s: [(s, None)])
        words, added, specials = self._words, self._added, self._specials
        if len(words) > self.cache_size:
            words.clear()
        counts = []
        for text in texts:
            normalized = normalize(text)
            if added is not None and (added.search(text) or added.search(normalized)):
                counts.append(self._encoded_count(text))
            elif self._metaspace:
                counts.append(specials + self._metaspace_count(normalized))
            else:
                pieces = [w for w, _ in pre_tokenize(normalized)]
                try:
                    counts.append(specials + sum(map(words.__getitem__, pieces)))
                except KeyError:
                    counts.append(specials + sum(map(self._word, pieces)))
        return counts

    def _metaspace_count(self, normalized: str) -> int:
        """Model tokens of a normalised text under a plain Metaspace pre-tokenizer (see `_plain_metaspace`)."""
        if not normalized:
            return 0
        parts = normalized.replace(" ", _METASPACE).split(_METASPACE)
        words = parts if parts[0] else parts[1:]  # each word is "▁" + part; "▁" is prepended when missing
        try:
            return sum(map(self._words.__getitem__, words))
        except KeyError:
            return sum(self._word(w, _METASPACE) for w in words)

    def _encoded_count(self, text: str) -> int:
        """Tokens of a text holding an added token, by the tokenizer's own `encode`."""
        return len(self._tokenizer.encode(text).ids)

    def _word(self, word: str, prefix: str = "") -> int:
        n = self._words.get(word)
        if n is None:
            piece = prefix + word
            n = self._words[word] = len(self._word_model(piece).tokenize(piece))
        return n

    def _word_model(self, piece: str):
        """The tokenizer model that cuts `piece` (a pre-tokenized word) as the whole tokenizer does: its own here."""
        return self._tokenizer.model


_METASPACE = "\u2581"
_METASPACE_PROBES = ("", " ", "a", " a", "a  b", "\u2581a\u2581\u2581b c ", "x\u2581 y", "  ")


def _plain_metaspace(tok) -> bool:
    """Whether the pre-tokenizer is Metaspace("▁", prepend always, split): then the words of a text are
    "▁" + each piece of `text.replace(" ", "▁").split("▁")`, which plain string methods find far faster
    than `pre_tokenize_str`. Checked against the tokenizer's own pre-tokenizer on a few probes too."""
    import json

    config = json.loads(tok.pre_tokenizer.__getstate__()) if tok.pre_tokenizer is not None else {}
    if config != {"type": "Metaspace", "replacement": _METASPACE, "prepend_scheme": "always", "split": True}:
        return False
    for probe in _METASPACE_PROBES:
        parts = probe.replace(" ", _METASPACE).split(_METASPACE) if probe else []
        ours = [_METASPACE + p for p in (parts if not parts or parts[0] else parts[1:])]
        if ours != [w for w, _ in tok.pre_tokenizer.pre_tokenize_str(probe)]:
            return False
    return True
