"""Answering a question from a loaded index: dense, lexical, or hybrid (the default)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from semsearch.embedding import Embedder
from semsearch.errors import SemsearchError
from semsearch.store import Snapshot

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


@dataclass(frozen=True)
class FusionParams:
    """How hybrid search mixes the two signals, per query language.

    Dense scores are min-max normalised over the candidates, BM25 scores divided by their maximum;
    the fused score is `weight * dense + (1 - weight) * lexical`.
    """

    dense_weight_nb: float = 0.5
    dense_weight_en: float = 0.8
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
        from semsearch.store import dense_vectors

        dense = dense_vectors(self.snapshot.dense) @ q
        if mode == "dense":
            return dense
        lexical = self.snapshot.lexical.scores(text)
        return self._fuse(dense, lexical, looks_english(text))

    def _fuse(self, dense: np.ndarray, lexical: np.ndarray, english: bool) -> np.ndarray:
        f = self.fusion
        weight = f.dense_weight_en if english else f.dense_weight_nb
        candidates = np.union1d(_top(dense, f.candidates), _top(lexical, f.candidates))
        d = dense[candidates]
        lo, hi = float(d.min()), float(d.max())
        d_norm = (dense - lo) / (hi - lo) if hi > lo else np.zeros_like(dense)
        top_lex = float(lexical[candidates].max())
        l_norm = lexical / top_lex if top_lex > 0 else np.zeros_like(lexical)
        fused = np.full(len(dense), -np.inf, dtype=np.float32)
        fused[candidates] = weight * d_norm[candidates] + (1 - weight) * l_norm[candidates]
        return fused

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
        if self._row_docs is None:
            self._row_docs = self.snapshot.doc_ids_of_rows()
        seen: set[str] = set()
        best = []
        for r in order:
            doc = self._row_docs[r]
            if doc not in seen:
                seen.add(doc)
                best.append(r)
                if len(best) == k:
                    break
        return np.asarray(best, dtype=np.int64)
