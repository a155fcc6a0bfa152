"""Lexical (BM25) search that understands Norwegian: Unicode words, Snowball stemming, stop words.

Scoring is bm25s (sparse, precomputed BM25 scores); analysis is ours so that queries and passages
go through exactly the same steps, and the analysed terms can be stored per chunk and reused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

_TOKEN = re.compile(r"\w+", re.UNICODE)
ANALYZER = "unicode-words+snowball-norwegian+stopwords-nb-en"

_ENGLISH_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from has have how in is it its of on or that the this to was"
    " were what when where which who whom whose why will with about after before said say says".split()
)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("norwegian")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_NORWEGIAN

    return frozenset(STOPWORDS_NORWEGIAN) | _ENGLISH_STOPWORDS


def analyze(text: str) -> list[str]:
    """Lower-cased Unicode word tokens, stop words removed, Norwegian-stemmed (æ, ø, å kept)."""
    stop = _stopwords()
    words = [w for w in _TOKEN.findall(text.lower()) if w not in stop and (len(w) > 1 or w.isdigit())]
    return _stemmer().stemWords(words)


class LexicalIndex:
    """BM25 over analysed chunk texts; row i is the i-th chunk of the dense index."""

    def __init__(self, bm25):
        self._bm25 = bm25
        self._vocab: dict[str, int] = bm25.vocab_dict

    @classmethod
    def build(cls, terms: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> LexicalIndex:
        """Index the analysed terms of each row."""
        import bm25s

        bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
        rows = [list(t) if t else ["\u2205"] for t in terms]  # bm25s needs a token in every row
        bm25.index(rows, show_progress=False)
        return cls(bm25)

    @property
    def size(self) -> int:
        """Number of rows."""
        return int(self._bm25.scores["num_docs"])

    def save(self, folder: Path) -> None:
        """Write the index into `folder`."""
        self._bm25.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """Read an index written by `save`, memory-mapped."""
        import bm25s

        return cls(bm25s.BM25.load(str(folder), mmap=True, show_progress=False))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row for the query (zeros when no query term is in the vocabulary)."""
        ids = [self._vocab[t] for t in analyze(query) if t in self._vocab]
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float32)
