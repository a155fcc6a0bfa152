"""Sentence-aware chunking of articles, budgeted in the embedding model's own tokens.

Token counting dominates the cost, so the counter sees few, large calls: per batch of documents, one
call for every section's context and sentences and one for every chunk as first planned (a chunk only
needs a later count in the rare case that the exact check drops trailing sentences from it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from itertools import islice

from semsearch.chunking.counting import CountCache, TokenCounter
from semsearch.chunking.packing import Unit, pack, units_of
from semsearch.chunking.sentences import sections, sentences_of, split_sentences
from semsearch.reading.articles import Article

__all__ = [
    "Chunk",
    "ChunkParams",
    "TokenCounter",
    "chunk_article",
    "chunk_id",
    "chunk_many",
    "sentences_of",
    "split_sentences",
]


@dataclass(frozen=True)
class ChunkParams:
    """How articles are cut: target and hard token budgets (prompt included), overlap, context prefix; and
    whether each chunk's sentences are embedded too (`sentence_vectors`: the hybrid ranks by the best sentence
    as well as the whole chunk; about twice the embedding time of the chunks alone)."""

    target_tokens: int = 240
    max_tokens: int = 512
    overlap_tokens: int = 40
    with_title: bool = True
    sentence_vectors: bool = True

    def to_dict(self) -> dict:
        """JSON form, as recorded in the index manifest."""
        return asdict(self)


def _passage(text: str, title: str | None, heading: str | None, with_title: bool) -> str:
    opening = text.lstrip("–—- ")
    parts = [p for p in ((title if with_title else None), heading) if p and not opening.startswith(p)]
    context = " ".join(p.rstrip(".") + "." for p in dict.fromkeys(parts))
    return f"{context} {text}" if context else text


@dataclass(frozen=True)
class Chunk:
    """One contiguous span `article.text[start:end]` with its context."""

    id: int
    doc_id: str
    position: int
    start: int
    end: int
    text: str
    heading: str | None
    date: str | None
    title: str | None
    tokens: int = 0  # what the model sees: prompt, context and text, special tokens included

    def passage(self, with_title: bool) -> str:
        """The text that is embedded and indexed: title and heading as context, then the chunk."""
        return _passage(self.text, self.title, self.heading, with_title)


def chunk_id(doc_id: str, start: int, end: int, text: str) -> int:
    """A stable 63-bit id: the same chunk of the same document always gets the same id."""
    digest = hashlib.blake2b(f"{doc_id}\0{start}\0{end}\0{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF


@dataclass
class _Layout:
    """One section being chunked: its context heading, sentences, budget and counted units."""

    heading: str | None
    sentences: list[tuple[int, int, bool]]
    probe: str  # the prompt and context alone: their tokens come off the budget
    budget: int = 0
    units: list[Unit] | None = None


class _Doc:
    """One article on its way through the batched passes of `chunk_many`."""

    def __init__(self, article: Article, params: ChunkParams, prompt: str):
        self.article, self.params, self.prompt = article, params, prompt
        title = article.title
        self.layouts = []
        for section in sections(article):
            heading = section.heading
            if title is not None and heading == title.lstrip("–—- "):
                heading = None
            probe = prompt + _passage("", title, heading, params.with_title)
            self.layouts.append(_Layout(heading, section.sentences(article.text), probe))

    def texts_to_count(self) -> Iterator[str]:
        """The first pass: each section's prompt-and-context probe and its sentences."""
        text = self.article.text
        for lay in self.layouts:
            yield lay.probe
            yield from (text[s:e] for s, e, _ in lay.sentences)

    def count_units(self, count: CountCache) -> None:
        """Budgets from the probes, then the units (over-long sentences cut at words)."""
        params = self.params
        for lay in self.layouts:
            overhead = count(lay.probe)
            if params.max_tokens - overhead < 8:
                raise ValueError(f"max_tokens={params.max_tokens} leaves no room for text after the prompt and headings")
            lay.budget = max(min(params.target_tokens, params.max_tokens) - overhead, 8)
            lay.units = units_of(self.article.text, lay.sentences, count, lay.budget)

    def passage(self, lay: _Layout, i: int, j: int) -> str:
        """What the model sees for the chunk `units[i:j]` of a section."""
        assert lay.units is not None
        body = self.article.text[lay.units[i].start : lay.units[j - 1].end]
        return self.prompt + _passage(body, self.article.title, lay.heading, self.params.with_title)

    def planned_passages(self) -> Iterator[str]:
        """The second pass: every chunk as planned before the exact check (which rarely changes it)."""
        for lay in self.layouts:
            assert lay.units is not None
            for i, j, _ in pack(lay.units, lay.budget, self.params.overlap_tokens, lambda i, j: (j, 0)):
                yield self.passage(lay, i, j)

    def chunks(self, count: CountCache) -> list[Chunk]:
        """The final pass: pack with the exact count against `max_tokens`, dropping trailing units if over."""
        a, max_tokens = self.article, self.params.max_tokens
        out: list[Chunk] = []
        for lay in self.layouts:
            assert lay.units is not None

            def settle(i: int, j: int, lay: _Layout = lay) -> tuple[int, int]:
                tokens = count(self.passage(lay, i, j))
                while j - 1 > i and tokens > max_tokens:
                    j -= 1
                    tokens = count(self.passage(lay, i, j))
                return j, tokens

            for i, j, tokens in pack(lay.units, lay.budget, self.params.overlap_tokens, settle):
                s, e = lay.units[i].start, lay.units[j - 1].end
                body = a.text[s:e]
                cid = chunk_id(a.doc_id, s, e, body)
                out.append(Chunk(cid, a.doc_id, len(out), s, e, body, lay.heading, a.date, a.title, tokens))
        return out


def chunk_many(
    articles: Iterable[Article],
    count_tokens: TokenCounter,
    params: ChunkParams,
    prompt: str = "",
    batch: int = 32,
    processes: int = 1,
) -> Iterator[list[Chunk]]:
    """Chunk many articles, yielding each one's chunks in order; `batch` articles share counter calls.

    Gives exactly what `chunk_article` gives for each article, with a few large calls to `count_tokens`
    per batch instead of several small ones per section and chunk. `processes` > 1 (opt-in) chunks
    batches in that many worker processes; `count_tokens` must then be picklable (`embedding.tokenizer.TokenizerCounter`).
    """
    if processes > 1:
        from semsearch.chunking.pool import chunk_in_processes

        yield from chunk_in_processes(articles, count_tokens, params, prompt, processes, batch)
        return
    count = CountCache(count_tokens)
    it = iter(articles)
    while group := [_Doc(a, params, prompt) for a in islice(it, max(batch, 1))]:
        count.prefetch(t for doc in group for t in doc.texts_to_count())
        for doc in group:
            doc.count_units(count)
        count.prefetch(p for doc in group for p in doc.planned_passages())
        for doc in group:
            yield doc.chunks(count)
        count.clear()


def chunk_article(article: Article, count_tokens: TokenCounter, params: ChunkParams, prompt: str = "") -> list[Chunk]:
    """Cut an article into overlapping, sentence-aligned chunks within the token budget.

    `count_tokens` returns the model's token count (special tokens included) for each text; the
    prompt and the title/heading context count against the budget, so the model never truncates.
    """
    return next(chunk_many([article], count_tokens, params, prompt))
