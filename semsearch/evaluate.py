"""Retrieval quality on labelled questions (NorQuAD format): hit@k and MRR@10, per chunk and per article."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from semsearch.errors import SemsearchError
from semsearch.search import Mode, Searcher
from semsearch.search.language import question_language

KS = (1, 3, 5, 10)


@dataclass(frozen=True)
class LabelledQuery:
    """A question with the documents and character spans that answer it."""

    id: str
    query: str
    relevant: tuple[str, ...]
    spans: tuple[tuple[str, int, int], ...]
    split: str | None = None
    lang: str = "nb"

    def answered_by(self, doc_id: str, start: int, end: int) -> bool:
        """True when the span [start, end) of `doc_id` overlaps one of the answer spans."""
        return any(d == doc_id and s < end and start < e for d, s, e in self.spans)


@dataclass(frozen=True)
class Metrics:
    """hit@1/3/5/10 and MRR@10 over a set of questions."""

    hits: dict[int, float]
    mrr10: float

    def row(self) -> dict[str, float]:
        """Flat form: hit@1 … hit@10, mrr@10."""
        return {**{f"hit@{k}": v for k, v in self.hits.items()}, "mrr@10": self.mrr10}


@dataclass(frozen=True)
class EvalReport:
    """Chunk-level and article-level metrics of one mode on one question set."""

    mode: str
    queries: int
    chunk: Metrics
    article: Metrics
    mean_chunk_chars: float
    mean_chunk_tokens: float
    lang: str = "all"

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "mode": self.mode,
            "lang": self.lang,
            "queries": self.queries,
            "chunk": self.chunk.row(),
            "article": self.article.row(),
            "mean_chunk_chars": self.mean_chunk_chars,
            "mean_chunk_tokens": self.mean_chunk_tokens,
        }


def load_queries(path: str | Path, split: str | None = None) -> list[LabelledQuery]:
    """Read a JSONL file of `{"id", "query", "relevant", "answer_spans", "split", "lang"}` objects (a question
    without `lang` gets the detected one: `search.language.question_language`)."""
    path = Path(path)
    if not path.is_file():
        raise SemsearchError(f"question file '{path}' does not exist: pass a JSONL file in NorQuAD format")
    queries = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            q = LabelledQuery(
                str(obj.get("id", n)),
                obj["query"],
                tuple(obj["relevant"]),
                tuple((s["doc_id"], int(s["start"]), int(s["end"])) for s in obj.get("answer_spans", [])),
                obj.get("split"),
                str(obj.get("lang") or question_language(obj["query"])),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise SemsearchError(
                f"'{path}' line {n} is not a labelled question ({e}): expected query, relevant, answer_spans"
            ) from e
        if split is None or q.split == split:
            queries.append(q)
    if not queries:
        raise SemsearchError(f"'{path}' holds no questions" + (f" in split '{split}'" if split else ""))
    return queries


def rank_metrics(ranks: list[int | None]) -> Metrics:
    """hit@k and MRR@10 of 1-based ranks of each question's first answer (None: not found)."""
    n = max(len(ranks), 1)
    hits = {k: sum(1 for r in ranks if r is not None and r <= k) / n for k in KS}
    mrr = sum(1 / r for r in ranks if r is not None and r <= 10) / n
    return Metrics(hits, mrr)


def by_language(queries: list[LabelledQuery]) -> dict[str, list[LabelledQuery]]:
    """The questions grouped by language, in the order each language first appears."""
    groups: dict[str, list[LabelledQuery]] = {}
    for q in queries:
        groups.setdefault(q.lang, []).append(q)
    return groups


def evaluate_languages(searcher: Searcher, queries: list[LabelledQuery], modes: list[str]) -> list[EvalReport]:
    """One report per question language and mode (languages in order of appearance, then modes)."""
    return [evaluate(searcher, group, m, lang=lang) for lang, group in by_language(queries).items() for m in modes]


def evaluate(
    searcher: Searcher, queries: list[LabelledQuery], mode: Mode = "hybrid", depth: int = 100, lang: str = "all"
) -> EvalReport:
    """Rank chunks for every question and score them: a chunk is a hit when it comes from a relevant
    document and overlaps an answer span; an article is a hit when it is relevant."""
    vectors = None if mode == "lexical" else searcher.embedder.embed_queries([q.query for q in queries])
    chunk_ranks: list[int | None] = []
    article_ranks: list[int | None] = []
    for i, q in enumerate(queries):
        results = searcher.search(q.query, depth, mode, query_vector=None if vectors is None else vectors[i])
        chunk_rank = article_rank = None
        docs: list[str] = []
        for rank, r in enumerate(results, 1):
            if chunk_rank is None and q.answered_by(r.doc_id, r.start, r.end):
                chunk_rank = rank
            if r.doc_id not in docs:
                docs.append(r.doc_id)
                if article_rank is None and r.doc_id in q.relevant:
                    article_rank = len(docs)
        chunk_ranks.append(chunk_rank)
        article_ranks.append(article_rank)
    chars, tokens = searcher.mean_lengths()
    return EvalReport(mode, len(queries), rank_metrics(chunk_ranks), rank_metrics(article_ranks), chars, tokens, lang)
