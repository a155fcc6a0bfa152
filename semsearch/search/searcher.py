"""Answering a question from one generation of an index: dense, lexical, or hybrid (the default).

Every mode costs what the question touches: dense search over live vectors (or a segment's approximate
index), BM25 over the question's posting lists, and the hybrid's sentence, coverage and article signals
for its candidates only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from semsearch.analysis import analyze
from semsearch.embedding import Embedder
from semsearch.embedding.embedder import blas_threads
from semsearch.errors import SemsearchError
from semsearch.index.generation import Generation, StoredChunk
from semsearch.index.records import joined_sentences
from semsearch.search.adapter import adapt, load_adapter
from semsearch.search.dense import dense_scores, dense_top, top_rows
from semsearch.search.expansion import add_terms, feedback, index_terms, translation_groups, translations
from semsearch.search.features import BASE, Signals, compute, needs, positions
from semsearch.search.features import NAMES as FEATURES
from semsearch.search.language import ENGLISH, NORWEGIAN, question_language
from semsearch.search.lexical import Lexical, Postings, Query, weighted

Mode = Literal["dense", "lexical", "hybrid"]
MODES: tuple[str, ...] = ("dense", "lexical", "hybrid")


@dataclass(frozen=True)
class Result:
    """One ranked passage: its score, article, place in the article (chunk `position`, offsets), text,
    the document's fields, and the best-answering sentence as offsets into `text` (None when unknown)."""

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
    url: str | None = None
    metadata: dict = field(default_factory=dict)
    highlight_start: int | None = None
    highlight_end: int | None = None

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class LanguageFusion:
    """How hybrid search ranks the questions of one language: feature weights (over FEATURES); the
    weights of the terms added to the question's own (`search.expansion`): dictionary translations
    (English only) and dense feedback (0: none); and `dense_span`, the cosine below the best candidate's
    at which the dense feature reaches 0 (0: min-max over the candidates instead). A fixed span keeps
    the dense feature's scale as the archive grows: the 100th best cosine rises with every article, so
    min-max would stretch small differences and overweigh the dense signal in a large archive."""

    weights: tuple[float, ...]
    translations: float = 0.0
    feedback: float = 0.0
    dense_span: float = 0.0
    features: tuple[str, ...] = BASE
    adapt: bool = False  # map the question's vector with the model's adapter, where one ships (`search.adapter`)
    sentence_context: float = 0.0  # how much of its chunk's vector a sentence is read with (`features.in_context`)

    def __post_init__(self):
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown or len(self.weights) != len(self.features):
            raise ValueError(f"LanguageFusion needs one weight per feature of {FEATURES}: got {self.features}, {self.weights}")

    def columns(self) -> list[int]:
        """Where the weighted features are in the full feature matrix."""
        return [FEATURES.index(f) for f in self.features]


@dataclass(frozen=True)
class FusionParams:
    """How hybrid search scores a candidate: a weighted sum of features, with weights per question language
    (`search.language`).

    Candidates are the best `candidates` chunks by dense score plus the best by BM25. Their features are
    `search.features.FEATURES`; each language weighs those it names. BM25, sentence and coverage read the
    question's terms with those the language adds; dense feedback takes the best `feedback_chunks` chunks
    by cosine and adds up to `feedback_terms` terms (fitted off: it lowered English hit@1). Features and
    weights are fitted on NorQuAD `train` by bench/tune_fusion.py (`--select`), on the news articles with
    and without 5,000 NoReC distractors together: English with its translations and its question adapter
    (`search.adapter`, fitted first by bench/fit_adapter.py); another language as English questions without
    either.
    """

    nb: LanguageFusion = LanguageFusion(
        (0.391, -0.297, 1.335, 0.536, -0.152, 0.446, -0.797, 0.998),
        dense_span=0.06,
        features=(*BASE, "bm25", "article_bm25", "bm25_share", "sentence_joint"),
    )
    en: LanguageFusion = LanguageFusion(
        (0.206, 0.2, 1.123, 0.961, -0.065, 0.73, -0.004, 0.995),
        translations=2.5,
        dense_span=0.06,
        features=(*BASE, "dense_bm25", "word_coverage_sq", "position", "sentence_dense"),
        adapt=True,
        sentence_context=0.3,
    )
    other: LanguageFusion = LanguageFusion(
        (0.639, -0.218, 0.806, 0.558, 0.293, -0.406, -0.176, -0.055, 1.09, 0.154, 0.998, -0.034, 0.102),
        dense_span=0.06,
        features=(
            *BASE,
            "length",
            "dense_bm25",
            "article_hits",
            "word_coverage_sq",
            "article_coverage",
            "article_dense",
            "sentence_dense",
            "position",
            "bm25_rank",
        ),
        sentence_context=0.3,
    )
    candidates: int = 100
    feedback_chunks: int = 5
    feedback_terms: int = 8

    def language(self, lang: str) -> LanguageFusion:
        """The parameters for questions of this language ("nb", "en" or "other")."""
        return {NORWEGIAN: self.nb, ENGLISH: self.en}.get(lang, self.other)


def looks_english(text: str) -> bool:
    """True when the question is in English (`search.language.question_language`)."""
    return question_language(text) == ENGLISH


@dataclass
class _Ranking:
    """Ranked global rows with their scores, and the sentence scores the hybrid already computed."""

    rows: np.ndarray
    scores: np.ndarray
    sentences: dict[int, list[float]] = field(default_factory=dict)


@dataclass
class _Candidates:
    """The hybrid's candidate rows, their features, and their sentence scores (only results fetch whole chunks)."""

    rows: np.ndarray
    features: np.ndarray
    sentences: dict[int, list[float]]


class Searcher:
    """One opened generation plus its model: answers questions, reusing both between calls."""

    def __init__(self, generation: Generation, embedder: Embedder, fusion: FusionParams | None = None):
        self.generation = generation
        self.embedder = embedder
        self.fusion = fusion or FusionParams()
        self.lexical = Lexical(generation)

    def query_vector(self, text: str) -> np.ndarray:
        """The question's embedding, checked against the index's dimension."""
        q = self.embedder.embed_queries([text])[0]
        if self.generation.segments and q.shape[0] != self.generation.dim:
            raise SemsearchError(
                f"the model gives {q.shape[0]}-dimensional vectors but the index holds {self.generation.dim}: "
                "query with the model the index was built with, or rebuild it"
            )
        return q

    def question_vector(self, q: np.ndarray, lang: str) -> np.ndarray:
        """The vector dense search takes for a question of this language: its embedding `q`, mapped by the
        model's adapter when the language's fusion asks for it and one ships for the index's model."""
        if not self.fusion.language(lang).adapt:
            return q
        w = load_adapter(str((self.generation.commit.model or {}).get("name", "")))
        return adapt(q, w) if w is not None and w.shape[0] == q.shape[0] else q

    def mean_lengths(self) -> tuple[float, float]:
        """Mean chunk length in characters and model tokens."""
        return self.generation.mean_lengths()

    def search(
        self,
        text: str,
        k: int = 5,
        mode: Mode = "hybrid",
        per_article: bool = False,
        query_vector: np.ndarray | None = None,
        masks: list[np.ndarray | None] | None = None,
    ) -> list[Result]:
        """The k best passages for `text` (or the best passage of each of the k best articles).

        `masks` restricts the search to rows allowed per segment (deleted rows are always excluded).
        `query_vector`, when given, is the question's embedding as the model gives it (the language's adapter
        is applied here).
        """
        if mode not in MODES:
            raise SemsearchError(f"unknown mode '{mode}': use one of {', '.join(MODES)}")
        if not self.generation.segments:
            return []
        # One thread for the whole query: numpy's threads wait for each other when the machine is busy.
        with blas_threads(1):
            return self._search(text, k, mode, per_article, query_vector, masks)

    def _search(self, text, k, mode, per_article, query_vector, masks) -> list[Result]:
        gen = self.generation
        masks = masks if masks is not None else gen.alive
        lang = question_language(text)
        terms = self.question_terms(text, lang)
        if mode == "lexical":
            ranking = self._lexical(terms, masks)
        else:
            q = self.question_vector(self.query_vector(text) if query_vector is None else query_vector, lang)
            depth = max(k, self.fusion.candidates) if per_article else k
            if mode == "dense":
                ranking = self._dense(q, depth, masks, per_article, k)
            else:
                ranking = self._hybrid(text, terms, q, masks, lang)
        order = self._best_per_article(ranking.rows, k) if per_article else np.arange(min(k, len(ranking.rows)))
        return self._results(ranking, order, terms)

    def question_terms(self, text: str, lang: str) -> dict[str, float]:
        """The question's own index terms (weight 1 an occurrence), with the translations its language adds."""
        own = weighted(analyze(text))
        weight = self.fusion.language(lang).translations
        if lang != ENGLISH or weight <= 0:
            return own
        return add_terms(own, translations(text, weight, index_terms(self.generation)))

    def _lexical(self, terms: Query, masks) -> _Ranking:
        rows, scores = self.lexical.bm25(terms, Postings(self.generation, list(terms), masks))
        keep = scores > 0
        rows, scores = rows[keep], scores[keep]
        best = top_rows(scores, len(scores))
        return _Ranking(rows[best], scores[best])

    def _dense(self, q: np.ndarray, depth: int, masks, per_article: bool, k: int) -> _Ranking:
        live = sum(int(m.sum()) if m is not None else s.rows for m, s in zip(masks, self.generation.segments))
        while True:
            rows, scores = dense_top(self.generation, q, min(depth, live), masks)
            if not per_article or depth >= live or len(np.unique(self.generation.doc_keys(rows))) >= k:
                return _Ranking(rows, scores)
            depth *= 4

    def features(
        self, text: str, terms: Query, q: np.ndarray, masks, lang: str | None = None, names: tuple[str, ...] = FEATURES
    ) -> _Candidates:
        """The hybrid's candidates for a question (best `candidates` by cosine plus best by BM25) and their
        feature matrix [candidates, len(names)] (`search.features`: every feature unless `names` picks some);
        `terms` gain the language's dense-feedback terms."""
        gen, n = self.generation, self.fusion.candidates
        lang = lang or question_language(text)
        params = self.fusion.language(lang)
        dense_rows, _ = dense_top(gen, q, n, masks)
        terms = weighted(terms)
        if params.feedback > 0:
            best = dense_rows[: self.fusion.feedback_chunks]
            terms = add_terms(terms, feedback(gen, best, params.feedback, self.fusion.feedback_terms, set(terms)))
        postings = Postings(gen, list(terms), masks)
        lex_rows, lex_scores = self.lexical.bm25(terms, postings)
        lex_top = top_rows(lex_scores, n)
        lex_top = lex_top[lex_scores[lex_top] > 0]
        rows = np.union1d(dense_rows, lex_rows[lex_top]).astype(np.int64)
        if not len(rows):
            return _Candidates(rows, np.zeros((0, len(names)), np.float32), {})
        sentence_scores = self.lexical.sentence_scores(terms, gen.sentence_texts(rows))
        sentences = dict(zip(rows.tolist(), sentence_scores))
        lexical, need = (lex_rows, lex_scores), needs(names)
        s = self._signals(q, rows, postings, lexical, sentences, terms)
        # each row's article as global rows [start, end): read once for every signal that needs it
        spans = gen.doc_spans(rows) if need & {"neighbours", "position", "length", "article_coverage"} else None
        if need & {"own", "own_coverage"}:
            s.own, s.own_coverage = self._own_signals(text, terms, postings, lexical, rows, s)
        if "neighbours" in need:
            s.neighbour_cosine, s.neighbour_bm25 = self._neighbour_signals(q, masks, rows, lexical, spans)
        if need & {"position", "length"}:
            s.position, s.length = self._places(rows, spans)
        if "sentence_cosines" in need:
            s.sentence_cosines = gen.sentence_cosines(q, rows)
        if "sentence_bm25" in need:
            s.sentence_bm25 = sentence_scores
        if "article_coverage" in need:
            s.article_coverage = self.lexical.article_coverage(terms, postings, rows, spans)
        if "word_coverage" in need:
            units = [(t,) for t in weighted(analyze(text))]
            if lang == ENGLISH and params.translations > 0:
                units += [tuple(t for tr in group for t in tr.split("/")) for group in translation_groups(text)]
            s.word_coverage = self.lexical.unit_coverage(units, postings, rows)
        return _Candidates(rows, compute(s, params.dense_span, names, params.sentence_context), sentences)

    def _signals(self, q, rows, postings, lexical, sentences, terms) -> Signals:
        """The signals every feature set reads: cosine, BM25, sentence BM25, coverage and the article."""
        gen = self.generation
        _, docs = np.unique(gen.doc_keys(rows), return_inverse=True)
        return Signals(
            cosine=dense_scores(gen, q, rows),
            bm25=_lookup(*lexical, rows),
            bm25_ceiling=self.lexical.ceiling(terms, postings),
            sentence=np.array([max(sentences[r]) for r in rows.tolist()], dtype=np.float32),
            coverage=self.lexical.coverage(terms, postings, rows),
            docs=docs,
        )

    def _own_signals(self, text, terms, postings, lexical, rows, s: Signals) -> tuple[np.ndarray, np.ndarray]:
        """BM25 and coverage of the question's own terms alone (the same as with all terms when it adds none)."""
        own = {t: w for t, w in weighted(analyze(text)).items() if t in postings.df}
        if own == {t: w for t, w in terms.items() if t in postings.df}:
            return s.bm25, s.coverage
        return _lookup(*self.lexical.bm25(own, postings), rows), self.lexical.coverage(own, postings, rows)

    def _neighbour_signals(self, q, masks, rows, lexical, spans) -> tuple[np.ndarray, np.ndarray]:
        """Cosine and BM25 of the chunks before and after each row ([rows, 2], NaN / 0 where there is none)."""
        near = np.stack(self._neighbours(rows, masks, spans), axis=1)
        cosine = np.full(near.shape, np.nan, np.float32)
        cosine[near >= 0] = dense_scores(self.generation, q, near[near >= 0])
        return cosine, _lookup(*lexical, np.maximum(near, 0).ravel()).reshape(near.shape)

    def _places(self, rows: np.ndarray, spans: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Each row's place in its article (`spans`: `Generation.doc_spans` of the rows) and its length in index
        terms over the mean."""
        gen = self.generation
        seg, local = gen.locate(rows)
        length = np.zeros(len(rows), np.float32)
        for i in np.unique(seg):
            at = seg == i
            length[at] = gen.segments[int(i)].chunk_lens[local[at]]
        place = positions(rows, spans[0])
        return place, length / self.lexical.avg_len if self.lexical.avg_len else length

    def _neighbours(self, rows: np.ndarray, masks, spans: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The global rows of the chunks just before and just after each row in the same article (`spans`:
        `Generation.doc_spans` of the rows) and allowed by `masks` (-1 where there is none)."""
        gen = self.generation
        start, end = spans
        out = []
        for step in (-1, 1):
            near = rows + step
            ok = (near >= start) & (near < end)  # an article's chunks are consecutive rows of one segment
            near = np.where(ok, near, rows)
            seg, local = gen.locate(near)
            for i, mask in enumerate(masks):
                if mask is not None:
                    at = ok & (seg == i)
                    ok[at] = mask[local[at]]
            out.append(np.where(ok, near, -1))
        return out[0], out[1]

    def _hybrid(self, text: str, terms: Query, q: np.ndarray, masks, lang: str) -> _Ranking:
        params = self.fusion.language(lang)
        found = self.features(text, terms, q, masks, lang, params.features)
        fused = found.features @ np.asarray(params.weights, dtype=np.float32)
        order = top_rows(fused, len(fused))
        return _Ranking(found.rows[order], fused[order], found.sentences)

    def _best_per_article(self, rows: np.ndarray, k: int) -> np.ndarray:
        """Positions in `rows` of the first row of each article, for the first k articles."""
        if not len(rows):
            return np.zeros(0, np.int64)
        _, first = np.unique(self.generation.doc_keys(rows), return_index=True)
        return np.sort(first)[:k]

    def _results(self, ranking: _Ranking, order: np.ndarray, terms: Query) -> list[Result]:
        rows = ranking.rows[order]
        chunks = dict(zip(rows.tolist(), self.generation.chunks(rows))) if len(rows) else {}
        need = [int(r) for r in rows if int(r) not in ranking.sentences]
        sentences = dict(ranking.sentences)
        if need:
            texts = [joined_sentences(chunks[r].sentence_terms) for r in need]
            sentences.update(zip(need, self.lexical.sentence_scores(terms, texts)))
        out = []
        for row, score in zip(rows.tolist(), ranking.scores[order].tolist()):
            c = chunks[row]
            hl = _highlight(c, sentences[row])
            out.append(Result(float(score), c.doc_id, c.text, c.start, c.end, c.date, c.heading, c.position, c.title, c.id,
                              c.url, c.metadata, *hl))  # fmt: skip
        return out


def _lookup(found_rows: np.ndarray, found_scores: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The score of each of `rows` among sorted `found_rows` (0 where it is not there)."""
    out = np.zeros(len(rows), np.float32)
    if len(found_rows):
        at = np.minimum(np.searchsorted(found_rows, rows), len(found_rows) - 1)
        hit = found_rows[at] == rows
        out[hit] = found_scores[at[hit]]
    return out


def _highlight(chunk: StoredChunk, scores: list[float]) -> tuple[int | None, int | None]:
    """Offsets of the best-scoring sentence inside the chunk text (None when no question term is in it)."""
    if not scores or not chunk.sentence_spans or max(scores) <= 0 or len(scores) != len(chunk.sentence_spans):
        return None, None
    best = int(np.argmax(scores))
    return chunk.sentence_spans[best]
