"""BM25 across segments, computed from each question's posting lists only.

Statistics are summed over the segments at query time (document frequency, row count, lengths), never
baked into stored weights, so any segment can be added, merged or deleted from. Deleted rows still count
in the statistics until their segment is merged (as in Lucene and Tantivy); their postings are skipped.
The formula is bm25s's "lucene" variant, which the index used before segments.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from semsearch.index.generation import Generation

K1, B = 1.2, 0.75

Query = Mapping[str, float]  # term -> weight: a question's own terms count 1 per occurrence, added terms less


def bm25_idf(n: int, df: int) -> float:
    """BM25's inverse document frequency of a term held by `df` of `n` chunks (or sentences)."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def weighted(terms: Sequence[str] | Query) -> dict[str, float]:
    """A question's terms as term -> weight (a repeated term counts again); a mapping is taken as it is."""
    return dict(terms) if isinstance(terms, Mapping) else {t: float(n) for t, n in Counter(terms).items()}


class Postings:
    """The live postings of a question's distinct terms: global rows, term frequency and row length."""

    def __init__(self, gen: Generation, terms: Sequence[str], masks: list[np.ndarray | None]):
        distinct = sorted(set(terms))
        self.df: dict[str, int] = dict.fromkeys(distinct, 0)
        parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {t: [] for t in distinct}
        for i, segment in enumerate(gen.segments):
            for term, (rows, tf) in segment.postings(distinct).items():
                self.df[term] += len(rows)
                mask = masks[i]
                if mask is not None:
                    keep = mask[rows]
                    rows, tf = rows[keep], tf[keep]
                parts[term].append((rows.astype(np.int64) + gen.offsets[i], tf.astype(np.float32), segment.chunk_lens[rows]))
        self.rows = {t: np.concatenate([p[0] for p in ps]) if ps else np.zeros(0, np.int64) for t, ps in parts.items()}
        self.tf = {t: np.concatenate([p[1] for p in ps]) if ps else np.zeros(0, np.float32) for t, ps in parts.items()}
        self.lengths = {t: np.concatenate([p[2] for p in ps]) if ps else np.zeros(0, np.int32) for t, ps in parts.items()}


def _member(rows: np.ndarray, sorted_rows: np.ndarray | None) -> np.ndarray:
    """Which of `rows` are in `sorted_rows` (a term's postings are in ascending global row order)."""
    if sorted_rows is None or not len(sorted_rows):
        return np.zeros(len(rows), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_rows, rows), len(sorted_rows) - 1)
    return sorted_rows[at] == rows


class Lexical:
    """BM25 signals over one generation: chunk scores, best-sentence scores and term coverage."""

    def __init__(self, gen: Generation):
        self.gen = gen
        self.n = max(gen.rows, 1)
        self.avg_len = sum(s.chunk_len for s in gen.segments) / self.n
        self.n_sentences = max(sum(s.sentences for s in gen.segments), 1)
        self.avg_sentence_len = sum(s.sentence_len for s in gen.segments) / self.n_sentences

    def idf(self, df: int) -> float:
        """BM25's inverse document frequency of a term held by `df` chunks."""
        return bm25_idf(self.n, df)

    def _rarity(self, df: int) -> float:
        """How much a term held by `df` chunks weighs in coverage (a smoothed IDF, positive for every term)."""
        return math.log1p(self.n / (df + 1))

    def ceiling(self, terms: Sequence[str] | Query, postings: Postings) -> float:
        """The BM25 no chunk reaches: every term of the question that the index holds, with a large tf."""
        return sum(times * self.idf(postings.df[t]) for t, times in weighted(terms).items() if postings.df.get(t))

    def bm25(self, terms: Sequence[str] | Query, postings: Postings) -> tuple[np.ndarray, np.ndarray]:
        """Rows holding any query term, and their BM25 scores, each term's part times its weight."""
        rows, weights = [], []
        for term, times in weighted(terms).items():
            r = postings.rows.get(term)
            if r is None or not len(r):
                continue
            idf = self.idf(postings.df[term])
            tf, dl = postings.tf[term], postings.lengths[term]
            rows.append(r)
            weights.append(times * idf * tf / (K1 * ((1 - B) + B * dl / self.avg_len) + tf))
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        rows_all, weights_all = np.concatenate(rows), np.concatenate(weights)
        if len(rows_all) * 16 > self.n:  # common terms: one pass over a row-sized array beats sorting postings
            dense = np.bincount(rows_all, weights=weights_all, minlength=self.n)
            hit = np.flatnonzero(dense)
            return hit, dense[hit].astype(np.float32)
        unique, inverse = np.unique(rows_all, return_inverse=True)
        return unique, np.bincount(inverse, weights=weights_all).astype(np.float32)

    def coverage(self, terms: Sequence[str] | Query, postings: Postings, rows: np.ndarray) -> np.ndarray:
        """For each of `rows`: the IDF-weighted share of the question's distinct terms it holds (a term of
        weight w < 1 counts w times)."""
        return self._share(terms, postings, lambda held: _member(rows, held), len(rows))

    def article_coverage(self, terms: Sequence[str] | Query, postings: Postings, rows: np.ndarray, spans=None) -> np.ndarray:
        """`coverage` of each row's whole article: a term counts when any live chunk of the article holds it
        (`spans`: the rows' `Generation.doc_spans`, when the caller has them already)."""
        start, end = spans if spans is not None else self.gen.doc_spans(rows)
        # a term's live rows are sorted: two binary searches per article
        return self._share(terms, postings, lambda held: np.searchsorted(held, start) < np.searchsorted(held, end), len(rows))

    def _share(self, terms: Sequence[str] | Query, postings: Postings, holds, n: int) -> np.ndarray:
        """The IDF-weighted share of the question's distinct terms for each of n rows, `holds(term's live
        rows)` telling which rows count the term."""
        cover = np.zeros(n, dtype=np.float32)
        total = 0.0
        for term, share in weighted(terms).items():
            weight = min(share, 1.0) * self._rarity(postings.df.get(term, 0))
            total += weight
            held = postings.rows.get(term)
            if held is not None and len(held):
                cover[holds(held)] += weight
        return cover / total if total else cover

    def unit_coverage(self, units: Sequence[Sequence[str]], postings: Postings, rows: np.ndarray) -> np.ndarray:
        """For each of `rows`: the share of the question's words it holds, a word being held when any of its
        terms (its own, or one of its translations) is, and weighing as its rarest term the index holds."""
        cover = np.zeros(len(rows), dtype=np.float32)
        total = 0.0
        for unit in units:
            known = [t for t in unit if postings.df.get(t)]
            weight = self._rarity(min((postings.df[t] for t in known), default=0))
            total += weight
            held = np.zeros(len(rows), dtype=bool)
            for t in known:
                held |= _member(rows, postings.rows.get(t))
            cover[held] += weight
        return cover / total if total else cover

    def sentence_scores(self, terms: Sequence[str] | Query, sentences: Sequence[str]) -> list[list[float]]:
        """BM25 of each sentence of each chunk, with sentence-level statistics.

        Each chunk comes as stored (`records.joined_sentences`: terms joined by spaces, sentences by tabs).
        Question terms are found and counted by string search, in C, instead of walking every word in
        Python: most sentences hold none of them. The sum runs in the order the terms first appear in the
        sentence, so scores are bit for bit those of counting word by word.
        """
        wanted = weighted(terms)
        df = Counter()
        for segment in self.gen.segments:
            df.update(segment.sentence_df(list(wanted)))
        weights = {t: wanted[t] * bm25_idf(self.n_sentences, df[t]) for t in wanted if df[t]}
        out = []
        for text in sentences:
            present = [t for t in weights if t in text]  # substrings: whole words are counted below
            out.append([self._sentence_bm25(s, present, weights) if present else 0.0 for s in text.split("\t")])
        return out

    def _sentence_bm25(self, sentence: str, present: list[str], weights: dict[str, float]) -> float:
        """BM25 of one stored sentence ("term term ...") for the question terms that may occur in it."""
        maybe = [t for t in present if t in sentence]
        if not maybe:
            return 0.0
        padded = " " + sentence.replace(" ", "  ") + " "  # every word between its own two spaces
        hits = sorted((padded.find(f" {t} "), t) for t in maybe)
        length = sentence.count(" ") + 1 if sentence else 0
        norm = K1 * ((1 - B) + B * max(length, 1) / self.avg_sentence_len)
        score = 0.0
        for at, t in hits:
            if at >= 0:
                tf = padded.count(f" {t} ")
                score += weights[t] * tf / (norm + tf)
        return score
