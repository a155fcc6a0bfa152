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


def _bm25(rows: Sequence[Sequence[str]], k1: float, b: float):
    import bm25s

    bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
    bm25.index([list(t) if t else ["\u2205"] for t in rows], show_progress=False)  # bm25s needs a token per row
    return bm25


class LexicalIndex:
    """BM25 over analysed chunks, plus BM25 over each chunk's sentences; row i is the i-th dense row.

    `scores` gives chunk BM25 (lexical mode); `signals` adds the best sentence's BM25 and the IDF-weighted
    share of the question's terms that each chunk contains (hybrid mode).
    """

    def __init__(self, chunks, sentences, owners_start: np.ndarray):
        self._chunks = chunks
        self._sentences = sentences
        self._starts = owners_start
        self._vocab: dict[str, int] = chunks.vocab_dict
        self._sentence_vocab: dict[str, int] = sentences.vocab_dict

    @classmethod
    def build(
        cls, terms: Sequence[Sequence[str]], sentence_terms: Sequence[Sequence[Sequence[str]]], k1: float = 1.2, b: float = 0.75
    ) -> LexicalIndex:
        """Index the analysed terms of each row, and of each row's sentences (every row has at least one)."""
        flat = [s for row in sentence_terms for s in (row or [[]])]
        counts = np.array([max(len(row), 1) for row in sentence_terms], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        return cls(_bm25(terms, k1, b), _bm25(flat, k1, b), starts)

    @property
    def size(self) -> int:
        """Number of rows."""
        return int(self._chunks.scores["num_docs"])

    def save(self, folder: Path) -> None:
        """Write the index into `folder`."""
        self._chunks.save(str(folder / "chunks"), show_progress=False)
        self._sentences.save(str(folder / "sentences"), show_progress=False)
        np.save(folder / "sentence_starts.npy", self._starts)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """Read an index written by `save`, memory-mapped."""
        import bm25s

        def one(name: str):
            return bm25s.BM25.load(str(folder / name), mmap=True, show_progress=False)

        return cls(one("chunks"), one("sentences"), np.load(folder / "sentence_starts.npy"))

    @staticmethod
    def _score(bm25, vocab: dict[str, int], terms: list[str], size: int) -> np.ndarray:
        ids = [vocab[t] for t in terms if t in vocab]
        if not ids:
            return np.zeros(size, dtype=np.float32)
        return np.asarray(bm25.get_scores_from_ids(ids), dtype=np.float32)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row for the query (zeros when no query term is in the vocabulary)."""
        return self._score(self._chunks, self._vocab, analyze(query), self.size)

    def signals(self, query: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For every row: chunk BM25, BM25 of its best-matching sentence, and the IDF-weighted share of
        the question's distinct terms that occur in it (the query is analysed once)."""
        terms = analyze(query)
        n_sentences = int(self._sentences.scores["num_docs"])
        per_sentence = self._score(self._sentences, self._sentence_vocab, terms, n_sentences)
        sentence = np.maximum.reduceat(per_sentence, self._starts) if n_sentences else np.zeros(self.size, np.float32)
        return self._score(self._chunks, self._vocab, terms, self.size), sentence, self._coverage(terms)

    def _coverage(self, terms: list[str]) -> np.ndarray:
        scores = self._chunks.scores
        indptr, indices = scores["indptr"], scores["indices"]
        n = self.size
        cover = np.zeros(n, dtype=np.float32)
        total = 0.0
        for term in set(terms):
            t = self._vocab.get(term)
            df = 0 if t is None else int(indptr[t + 1] - indptr[t])
            weight = float(np.log1p(n / (df + 1)))
            total += weight
            if df:
                cover[indices[indptr[t] : indptr[t + 1]]] += weight
        return cover / total if total else cover
