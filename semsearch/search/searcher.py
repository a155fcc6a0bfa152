"""Answering a question from a loaded index: dense, lexical, or hybrid (the default)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from semsearch.embedding import Embedder
from semsearch.errors import SemsearchError
from semsearch.index.store import Snapshot

Mode = Literal["dense", "lexical", "hybrid"]
MODES: tuple[str, ...] = ("dense", "lexical", "hybrid")


@dataclass(frozen=True)
class Result:
    """One ranked passage: its score, article, place in the article (chunk `position`, offsets) and text."""

    score: float
    doc_id: str
    text: str
    start: int
    end: int
    date: str | None
    heading: str | None
    position: int
    title: str | None
    chunk_id: int

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


FEATURES: tuple[str, ...] = ("dense", "sentence", "coverage", "article")


@dataclass(frozen=True)
class FusionParams:
    """How hybrid search scores a candidate: a weighted sum of features, with weights per query language.

    Candidates are the best `candidates` chunks by dense score plus the best by BM25. Features, each in
    [0, 1] over the candidates: `dense` (cosine, min-max normalised), `sentence` (BM25 of the chunk's
    best sentence, over its maximum), `coverage` (IDF-weighted share of the question's terms in the chunk)
    and `article` (the best dense+BM25 blend of any candidate from the same article). The Norwegian
    weights were fitted on NorQuAD `train` (bench/tune_fusion.py); English questions share few words with
    Norwegian text, so their weights lean on the dense signal.
    """

    weights_nb: tuple[float, ...] = (0.919, 0.358, 0.992, 1.051)
    weights_en: tuple[float, ...] = (1.0, 0.1, 0.2, 0.6)
    candidates: int = 100


_ENGLISH = frozenset("the what who whom whose which when where why how did does do is are was were of about and to in".split())
_NORWEGIAN = frozenset(
    "hva hvem hvilken hvilke hvor når hvorfor hvordan er var det og i på om til av som med den de ble har".split()
)
_WORDS = re.compile(r"\w+")


def looks_english(text: str) -> bool:
    """A cheap language guess for a question: more English than Norwegian function words, and no æøå."""
    words = _WORDS.findall(text.lower())
    if any(ch in text.lower() for ch in "æøå"):
        return False
    return sum(w in _ENGLISH for w in words) > sum(w in _NORWEGIAN for w in words)


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """Row indices of the n highest scores, best first."""
    n = min(n, len(scores))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, n - 1)[:n]
    return part[np.argsort(-scores[part], kind="stable")]


class Searcher:
    """A loaded index plus its model: answers questions, reusing both between calls."""

    def __init__(self, snapshot: Snapshot, embedder: Embedder, fusion: FusionParams | None = None):
        self.snapshot = snapshot
        self.embedder = embedder
        self.fusion = fusion or FusionParams()
        self._row_docs: np.ndarray | None = None

    def query_vector(self, text: str) -> np.ndarray:
        """The question's embedding, checked against the index's dimension."""
        q = self.embedder.embed_queries([text])[0]
        if q.shape[0] != self.snapshot.dense.d:
            raise SemsearchError(
                f"the model gives {q.shape[0]}-dimensional vectors but the index holds {self.snapshot.dense.d}: "
                "query with the model the index was built with, or rebuild it"
            )
        return q

    def row_scores(self, text: str, mode: Mode, query_vector: np.ndarray | None = None) -> np.ndarray:
        """A score for every row of the index (higher is better) under `mode`."""
        if mode == "lexical":
            return self.snapshot.lexical.scores(text)
        q = self.query_vector(text) if query_vector is None else query_vector
        from semsearch.index.store import dense_vectors

        dense = dense_vectors(self.snapshot.dense) @ q
        if mode == "dense":
            return dense
        candidates, features = self.features(text, dense)
        weights = np.asarray(self.fusion.weights_en if looks_english(text) else self.fusion.weights_nb, dtype=np.float32)
        fused = np.full(len(dense), -np.inf, dtype=np.float32)
        fused[candidates] = features @ weights
        return fused

    def features(self, text: str, dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The candidate rows for a question and their feature matrix [candidates, len(FEATURES)]."""
        bm25, sentence, coverage = self.snapshot.lexical.signals(text)
        n = self.fusion.candidates
        lexical_top = _top(bm25, n)
        candidates = np.union1d(_top(dense, n), lexical_top[bm25[lexical_top] > 0]).astype(np.int64)

        def unit(x: np.ndarray, minmax: bool = False) -> np.ndarray:
            lo = float(x.min()) if minmax else 0.0
            span = float(x.max()) - lo
            return (x - lo) / span if span > 0 else np.zeros_like(x)

        d = unit(dense[candidates], minmax=True)
        blend = 0.5 * d + 0.5 * unit(bm25[candidates])
        docs = self._row_doc_index()[candidates]
        best = np.full(int(docs.max()) + 1, -np.inf, dtype=np.float32)
        np.maximum.at(best, docs, blend)
        features = np.stack([d, unit(sentence[candidates]), coverage[candidates], best[docs]], axis=1)
        return candidates, features.astype(np.float32)

    def _row_doc_index(self) -> np.ndarray:
        """For every dense row, a small integer naming its article."""
        if self._row_docs is None:
            self._row_docs = np.unique(self.snapshot.doc_ids_of_rows(), return_inverse=True)[1]
        return self._row_docs

    def search(
        self, text: str, k: int = 5, mode: Mode = "hybrid", per_article: bool = False, query_vector: np.ndarray | None = None
    ) -> list[Result]:
        """The k best passages for `text` (or the best passage of each of the k best articles)."""
        if mode not in MODES:
            raise SemsearchError(f"unknown mode '{mode}': use one of {', '.join(MODES)}")
        if self.snapshot.dense.ntotal == 0:
            return []
        if mode == "dense" and not per_article:
            # Plain dense search goes through FAISS itself.
            q = (self.query_vector(text) if query_vector is None else query_vector)[None, :]
            found, ids = self.snapshot.dense.search(np.ascontiguousarray(q, dtype=np.float32), k)
            pairs = [(float(s), int(i)) for s, i in zip(found[0], ids[0]) if i >= 0]
        else:
            scores = self.row_scores(text, mode, query_vector)
            order = _top(scores, len(scores) if per_article else k)
            if mode == "lexical":
                order = order[scores[order] > 0]
            if per_article:
                order = self._best_per_article(order, k)
            pairs = [(float(scores[r]), int(self.snapshot.ids[r])) for r in order if np.isfinite(scores[r])]
        rows = self.snapshot.rows([i for _, i in pairs])
        return [
            Result(s, r.doc_id, r.text, r.start, r.end, r.date, r.heading, r.position, r.title, r.id)
            for (s, _), r in zip(pairs, rows)
        ]

    def _best_per_article(self, order: np.ndarray, k: int) -> np.ndarray:
        """The first row of each article in `order`, for the first k articles."""
        docs = self._row_doc_index()[order]
        _, first = np.unique(docs, return_index=True)
        return order[np.sort(first)[:k]]
