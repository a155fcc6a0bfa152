"""Lexical (BM25) search that understands Norwegian: Unicode words, Snowball stemming, stop words.

bm25s computes the BM25 weight of every (term, row) pair when an index is built; we store that sparse
matrix ourselves (CSC: one column per term) so that answering a question is a sum of a few columns
in numpy, with no bm25s or scipy import on the query path. Analysis is ours, so that questions and
passages go through exactly the same steps, and the analysed terms can be stored per chunk and reused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from semsearch.analysis import ANALYZER, analyze  # noqa: F401


class BM25Weights:
    """BM25 weights as a sparse term-by-row matrix: `indices[indptr[t]:indptr[t+1]]` are the rows that
    hold term t, `data[...]` their weights. A query's score is the sum of its terms' columns."""

    def __init__(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, vocab: dict[str, int], rows: int):
        self.data, self.indices, self.indptr, self.vocab, self.rows = data, indices, indptr, vocab, rows

    @classmethod
    def build(cls, rows: Sequence[Sequence[str]], k1: float, b: float) -> BM25Weights:
        """Compute the weights with bm25s ("lucene" BM25)."""
        import bm25s

        bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
        bm25.index([list(t) if t else ["\u2205"] for t in rows], show_progress=False)  # bm25s needs a token per row
        sc = bm25.scores
        vocab = {str(term): int(i) for term, i in bm25.vocab_dict.items()}
        return cls(np.asarray(sc["data"]), np.asarray(sc["indices"]), np.asarray(sc["indptr"]), vocab, int(sc["num_docs"]))

    def save(self, folder: Path) -> None:
        """Write `data.npy`, `indices.npy`, `indptr.npy` and `vocab.json` (with the row count) into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("data", "indices", "indptr"):
            np.save(folder / f"{name}.npy", getattr(self, name))
        (folder / "vocab.json").write_text(
            json.dumps({"rows": self.rows, "vocab": self.vocab}, ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, folder: Path) -> BM25Weights:
        """Read weights written by `save`, memory-mapped."""
        meta = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        arrays = [np.load(folder / f"{name}.npy", mmap_mode="r") for name in ("data", "indices", "indptr")]
        return cls(*arrays, meta["vocab"], int(meta["rows"]))

    def column(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """The rows holding `term` and their weights (empty when the term is unknown)."""
        t = self.vocab.get(term)
        if t is None:
            return self.indices[:0], self.data[:0]
        start, end = self.indptr[t], self.indptr[t + 1]
        return self.indices[start:end], self.data[start:end]

    def score(self, terms: Sequence[str]) -> np.ndarray:
        """The BM25 score of every row for these query terms (a repeated term counts again)."""
        columns = [self.column(t) for t in terms]
        if not columns:
            return np.zeros(self.rows, dtype=np.float32)
        rows = np.concatenate([c[0] for c in columns])
        weights = np.concatenate([c[1] for c in columns])
        return np.bincount(rows, weights=weights, minlength=self.rows).astype(np.float32)


class LexicalIndex:
    """BM25 over analysed chunks, plus BM25 over each chunk's sentences; row i is the i-th dense row.

    `scores` gives chunk BM25 (lexical mode); `signals` adds the best sentence's BM25 and the IDF-weighted
    share of the question's terms that each chunk contains (hybrid mode).
    """

    def __init__(self, chunks: BM25Weights, sentences: BM25Weights, sentence_starts: np.ndarray):
        self._chunks = chunks
        self._sentences = sentences
        self._starts = sentence_starts

    @classmethod
    def build(
        cls, terms: Sequence[Sequence[str]], sentence_terms: Sequence[Sequence[Sequence[str]]], k1: float = 1.2, b: float = 0.75
    ) -> LexicalIndex:
        """Index the analysed terms of each row, and of each row's sentences (every row has at least one)."""
        flat = [s for row in sentence_terms for s in (row or [[]])]
        counts = np.array([max(len(row), 1) for row in sentence_terms], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        return cls(BM25Weights.build(terms, k1, b), BM25Weights.build(flat, k1, b), starts)

    @property
    def size(self) -> int:
        """Number of rows."""
        return self._chunks.rows

    def save(self, folder: Path) -> None:
        """Write the index into `folder`."""
        self._chunks.save(folder / "chunks")
        self._sentences.save(folder / "sentences")
        np.save(folder / "sentence_starts.npy", self._starts)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """Read an index written by `save`, memory-mapped."""
        return cls(
            BM25Weights.load(folder / "chunks"), BM25Weights.load(folder / "sentences"), np.load(folder / "sentence_starts.npy")
        )

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row for the query (zeros when no query term is in the vocabulary)."""
        return self._chunks.score(analyze(query))

    def signals(self, query: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For every row: chunk BM25, BM25 of its best-matching sentence, and the IDF-weighted share of
        the question's distinct terms that occur in it (the query is analysed once)."""
        terms = analyze(query)
        per_sentence = self._sentences.score(terms)
        sentence = np.maximum.reduceat(per_sentence, self._starts) if len(per_sentence) else np.zeros(self.size, np.float32)
        return self._chunks.score(terms), sentence, self._coverage(terms)

    def _coverage(self, terms: list[str]) -> np.ndarray:
        n = self.size
        cover = np.zeros(n, dtype=np.float32)
        total = 0.0
        for term in set(terms):
            rows, _ = self._chunks.column(term)
            weight = float(np.log1p(n / (len(rows) + 1)))
            total += weight
            cover[rows] += weight
        return cover / total if total else cover
