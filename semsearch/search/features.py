"""The hybrid's features for its candidates, from signals the searcher gathers (`Signals`): numpy only.

Every feature compares candidates within one question. Most are scaled to [0, 1] over the candidates;
`cosine` and `bm25_share` keep a scale that holds across questions and archive sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from semsearch.index.generation import SentenceCosines

FEATURES: dict[str, str] = {
    "dense": "cosine, 1 at the best candidate and 0 at `dense_span` below it (min-max over the candidates when 0)",
    "sentence": "BM25 of the chunk's best sentence (sentence-level statistics), over the candidates' maximum",
    "coverage": "IDF-weighted share of the question's distinct terms (with added ones) that the chunk holds",
    "article": "the best 50/50 blend of `dense` and `bm25` among the candidates of the same article",
    "cosine": "the raw cosine",
    "bm25": "BM25 of the question's terms with the added ones, over the candidates' maximum",
    "own": "BM25 of the question's own terms only, over the candidates' maximum (names and numbers)",
    "own_coverage": "`coverage` of the question's own terms only",
    "dense_rank": "1 / (1 + rank) by cosine among the candidates",
    "bm25_rank": "1 / (1 + rank) by BM25 among the candidates (0 without a term)",
    "bm25_share": "BM25 over the most any chunk could score (every term matched, tf large): absolute",
    "neighbour": "the 50/50 blend of `dense` and `bm25` of the better adjacent chunk of the same article",
    "article_dense": "the best `dense` among the candidates of the same article",
    "article_bm25": "the best `bm25` among the candidates of the same article",
    "article_hits": "how many candidates the article has, over the most any article has",
    "article_coverage": "`coverage` of the whole article: the terms any of its chunks holds, not only this one",
    "position": "1 / (1 + the chunk's place in its article), places counted up to POSITION_CAP",
    "word_coverage": "IDF-weighted share of the question's words the chunk holds, as itself or translated",
    "word_coverage_sq": "`word_coverage` squared: a chunk that holds most of the question's words stands out",
    "dense_bm25": "`dense` times `bm25`: both signals agree",
    "length": "the chunk's length in index terms over the mean, up to 2, halved",
    "sentence_dense": "the best cosine of one of the chunk's sentences, read in the chunk's context (`in_context`), "
    "scaled as `dense` (`dense` without sentence vectors)",
    "sentence_joint": "the best 50/50 blend, over the chunk's sentences, of each one's cosine in context scaled as `dense` "
    "and its BM25 over the candidates' best sentence's (the chunk's cosine for each sentence without sentence vectors)",
}
NAMES: tuple[str, ...] = tuple(FEATURES)
BASE: tuple[str, ...] = ("dense", "sentence", "coverage", "article")
POSITION_CAP = 7


# The signals beyond cosine, BM25, sentence and coverage that a feature reads: `Searcher` gathers only
# those of the features a language weighs (neighbours cost a second dense and BM25 lookup, `own` a second
# BM25 pass).
NEEDS: dict[str, tuple[str, ...]] = {
    "own": ("own",),
    "own_coverage": ("own_coverage",),
    "neighbour": ("neighbours",),
    "position": ("position",),
    "length": ("length",),
    "word_coverage": ("word_coverage",),
    "word_coverage_sq": ("word_coverage",),
    "article_coverage": ("article_coverage",),
    "sentence_dense": ("sentence_cosines",),
    "sentence_joint": ("sentence_cosines", "sentence_bm25"),
}


def needs(names: tuple[str, ...]) -> frozenset[str]:
    """The optional signals (`NEEDS`) that these features read."""
    return frozenset(signal for name in names for signal in NEEDS.get(name, ()))


@dataclass
class Signals:
    """What the features are computed from, one entry per candidate (neighbours: [candidates, 2], the
    previous and the next chunk of the same article, NaN where there is none). The optional signals are
    None where no feature asked for them reads them."""

    cosine: np.ndarray
    bm25: np.ndarray
    bm25_ceiling: float
    sentence: np.ndarray
    coverage: np.ndarray
    docs: np.ndarray
    own: np.ndarray | None = None
    own_coverage: np.ndarray | None = None
    word_coverage: np.ndarray | None = None
    article_coverage: np.ndarray | None = None
    neighbour_cosine: np.ndarray | None = None
    neighbour_bm25: np.ndarray | None = None
    position: np.ndarray | None = None
    length: np.ndarray | None = None
    sentence_cosines: SentenceCosines | None = None  # per sentence: cosine with the question and with its chunk
    sentence_bm25: list[list[float]] | None = None  # per candidate, the BM25 of each of its sentences


def unit(x: np.ndarray) -> np.ndarray:
    """x over its maximum (zeros when the maximum is not positive)."""
    top = float(x.max()) if len(x) else 0.0
    return x / top if top > 0 else np.zeros_like(x)


def dense_scale(cosine: np.ndarray, reference: np.ndarray, span: float) -> np.ndarray:
    """Cosines scaled against the candidates' (`reference`): 1 at the best, 0 at `span` below it, or min-max
    over the candidates when span is 0; clipped to [0, 1]."""
    top = float(reference.max())
    if span > 0:
        return np.clip(1 - (top - cosine) / span, 0, 1)
    low = float(reference.min())
    return np.clip((cosine - low) / (top - low), 0, 1) if top > low else np.zeros_like(cosine)


def inverse_rank(scores: np.ndarray) -> np.ndarray:
    """1 / (1 + rank) of each score, best first (rank 0); 0 where the score is not positive."""
    order = np.argsort(-scores, kind="stable")
    rank = np.empty(len(scores), np.float32)
    rank[order] = np.arange(len(scores), dtype=np.float32)
    return np.where(scores > 0, 1 / (1 + rank), 0).astype(np.float32)


def per_article_max(values: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """For each candidate, the largest of `values` among the candidates of its article."""
    best = np.full(int(docs.max()) + 1, -np.inf, dtype=np.float32)
    np.maximum.at(best, docs, values)
    return best[docs]


def _neighbour(s: Signals, span: float) -> np.ndarray:
    """The 50/50 blend of dense and bm25 of the better adjacent chunk of the same article (0 without one)."""
    top_bm25 = float(s.bm25.max())
    near_d = dense_scale(np.nan_to_num(s.neighbour_cosine, nan=-1.0), s.cosine, span)
    near_b = np.clip(np.nan_to_num(s.neighbour_bm25) / top_bm25, 0, 1) if top_bm25 > 0 else 0 * near_d
    return np.where(np.isnan(s.neighbour_cosine), 0, 0.5 * near_d + 0.5 * near_b).max(axis=1)


def in_context(s: Signals, context: float) -> np.ndarray:
    """Each sentence's cosine with the question, the sentence read in its chunk's context: the question's cosine
    with unit(sentence vector + context * chunk vector), from the stored vectors' cosines (no embedding). A
    sentence alone loses what its neighbours say ("he", "the deal"); the whole chunk blurs it."""
    sc = s.sentence_cosines
    with_chunk = sc.question + context * np.repeat(s.cosine, sc.sizes)
    return with_chunk / np.sqrt(1 + context * context + 2 * context * sc.chunk)


def _sentence_dense(s: Signals, d: np.ndarray, span: float, context: float) -> np.ndarray:
    """The best sentence's cosine in context; without sentence vectors every sentence is its chunk: `dense`."""
    if s.sentence_cosines is None:
        return d
    best = np.maximum.reduceat(in_context(s, context), _firsts(s.sentence_cosines.sizes))
    return dense_scale(best, best, span)


def _sentence_joint(s: Signals, span: float, context: float) -> np.ndarray:
    """The answering sentence is near the question both ways: the best blend of a sentence's scaled cosine (in
    context) and its BM25, not the chunk's best cosine and best BM25 found in two different sentences."""
    bm25 = s.sentence_bm25
    sizes = np.fromiter((len(b) for b in bm25), np.int64, count=len(bm25))
    if s.sentence_cosines is None:  # the chunk's cosine for each of its sentences
        cosines = np.repeat(s.cosine, sizes)
    else:
        cosines, vector_sizes = in_context(s, context), s.sentence_cosines.sizes
        if not np.array_equal(sizes, vector_sizes):  # sentences analysed apart from those embedded: a chunk's best
            bm25 = [b if len(b) == n else [max(b)] * int(n) for b, n in zip(bm25, vector_sizes)]
            sizes = vector_sizes
    flat = np.fromiter((x for b in bm25 for x in b), np.float32, count=int(sizes.sum()))
    top = float(flat.max()) if len(flat) else 0.0
    scaled = flat / top if top > 0 else np.zeros_like(flat)
    blend = 0.5 * dense_scale(cosines, cosines, span) + 0.5 * scaled
    return np.maximum.reduceat(blend, _firsts(sizes)).astype(np.float32)


def _firsts(sizes: np.ndarray) -> np.ndarray:
    """Where each candidate's run of sentences begins in the flat arrays (every candidate has at least one)."""
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


def compute(s: Signals, span: float, names: tuple[str, ...] = NAMES, context: float = 0.0) -> np.ndarray:
    """The feature matrix [candidates, len(names)], columns in `names` order; only those are computed.
    `context`: how much of its chunk's vector each sentence is read with (`in_context`)."""
    d = dense_scale(s.cosine, s.cosine, span)
    b = unit(s.bm25)
    hits = np.bincount(s.docs).astype(np.float32)
    columns = {
        "dense": lambda: d,
        "sentence": lambda: unit(s.sentence),
        "coverage": lambda: s.coverage,
        "article": lambda: per_article_max(0.5 * d + 0.5 * b, s.docs),
        "cosine": lambda: s.cosine,
        "bm25": lambda: b,
        "own": lambda: unit(s.own),
        "own_coverage": lambda: s.own_coverage,
        "word_coverage": lambda: s.word_coverage,
        "word_coverage_sq": lambda: s.word_coverage**2,
        "dense_bm25": lambda: d * b,
        "dense_rank": lambda: inverse_rank(s.cosine + 2),  # cosines may be negative: every candidate gets a rank
        "bm25_rank": lambda: inverse_rank(s.bm25),
        "bm25_share": lambda: s.bm25 / s.bm25_ceiling if s.bm25_ceiling > 0 else np.zeros_like(s.bm25),
        "neighbour": lambda: _neighbour(s, span),
        "article_dense": lambda: per_article_max(d, s.docs),
        "article_bm25": lambda: per_article_max(b, s.docs),
        "article_hits": lambda: hits[s.docs] / hits.max(),
        "article_coverage": lambda: s.article_coverage,
        "position": lambda: 1 / (1 + s.position.astype(np.float32)),
        "length": lambda: np.minimum(s.length, 2) / 2,
        "sentence_dense": lambda: _sentence_dense(s, d, span, context),
        "sentence_joint": lambda: _sentence_joint(s, span, context),
    }
    if not names:
        return np.zeros((len(s.cosine), 0), np.float32)
    return np.stack([columns[name]() for name in names], axis=1).astype(np.float32)


def positions(rows: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each row's place in its article, up to POSITION_CAP, from the article's first row (`starts`: an
    article's chunks are consecutive rows, in order; `Generation.doc_spans`)."""
    return np.minimum(rows - starts, POSITION_CAP)
