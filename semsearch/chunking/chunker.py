"""Sentence-aware chunking of articles, budgeted in the embedding model's own tokens."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

from semsearch.reading.articles import Article

# Sentence ends: terminal punctuation (optionally closing quotes), whitespace, then a capital, digit,
# quote or dash. Common Norwegian abbreviations are not sentence ends.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'»”’)]*\s+(?=[\"«“'(–—-]?\s*[A-ZÆØÅÄÖÜÉ0-9])")
_ABBREVIATIONS = frozenset(
    "bl.a f.eks ca nr dr mr mrs ms st jf ev evt osv mv pga mht kl tlm etc vs prof dvs adm red inkl ekskl"
    " ref mill mrd kr fig ifm iflg henh jan feb mar apr aug sep sept okt nov des".split()
)
_WORD = re.compile(r"\S+")

TokenCounter = Callable[[Sequence[str]], list[int]]


@dataclass(frozen=True)
class ChunkParams:
    """How articles are cut: target and hard token budgets (prompt included), overlap, context prefix."""

    target_tokens: int = 240
    max_tokens: int = 512
    overlap_tokens: int = 40
    with_title: bool = True

    def to_dict(self) -> dict:
        """JSON form, as recorded in the index manifest."""
        return asdict(self)


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
        opening = self.text.lstrip("–—- ")
        parts = [p for p in ((self.title if with_title else None), self.heading) if p and not opening.startswith(p)]
        context = " ".join(p.rstrip(".") + "." for p in dict.fromkeys(parts))
        return f"{context} {self.text}" if context else self.text


def chunk_id(doc_id: str, start: int, end: int, text: str) -> int:
    """A stable 63-bit id: the same chunk of the same document always gets the same id."""
    digest = hashlib.blake2b(f"{doc_id}\0{start}\0{end}\0{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF


def split_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split `text[start:end]` into sentence spans (absolute offsets, whitespace trimmed)."""
    spans = []
    pos = start
    for m in _SENTENCE_END.finditer(text, start, end):
        before = text[pos : m.start()].rsplit(None, 1)
        last_word = before[-1].lower().rstrip(".") if before else ""
        if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
            continue
        spans.append((pos, m.start() + len(m.group().rstrip())))
        pos = m.end()
    if pos < end:
        spans.append((pos, end))
    return [(s, e) for s, e in spans if text[s:e].strip()]


@dataclass(frozen=True)
class _Section:
    """A heading (or none) and the lines under it: (start, end, is_text) with is_text False for the
    heading line itself and photo captions, which never make a chunk on their own."""

    heading: str | None
    lines: list[tuple[int, int, bool]]


def _sections(article: Article) -> list[_Section]:
    """Split the article at headings; boilerplate ends a run. The heading line opens its section."""
    sections: list[_Section] = []
    current = _Section(None, [])
    for block in article.blocks:
        if block.kind == "heading":
            if current.lines:
                sections.append(current)
            heading = article.text[block.start : block.end].lstrip("–—- ")
            current = _Section(heading, [(block.start, block.end, False)])
        elif block.kind == "boilerplate":
            if current.lines:
                sections.append(current)
            current = _Section(current.heading, [])
        else:
            current.lines.append((block.start, block.end, block.kind == "paragraph"))
    if current.lines:
        sections.append(current)
    return [sec for sec in sections if any(is_text for _, _, is_text in sec.lines)]


def sentences_of(text: str) -> list[str]:
    """The sentences and lines of a chunk's text (a heading line is a sentence of its own)."""
    return [line.strip() for s, e in split_sentences(text, 0, len(text)) for line in text[s:e].splitlines() if line.strip()]


def _split_long(text: str, start: int, end: int, count: Callable[[str], int], budget: int) -> list[tuple[int, int]]:
    """Cut one over-long sentence at word boundaries into pieces that fit `budget` tokens."""
    pieces: list[tuple[int, int]] = []
    piece_start = None
    last_end = start
    for m in _WORD.finditer(text, start, end):
        s, e = m.span()
        if piece_start is None:
            piece_start = s
        elif count(text[piece_start:e]) > budget:
            pieces.append((piece_start, last_end))
            piece_start = s
        last_end = e
    if piece_start is not None:
        pieces.append((piece_start, last_end))
    return pieces


def chunk_article(article: Article, count_tokens: TokenCounter, params: ChunkParams, prompt: str = "") -> list[Chunk]:
    """Cut an article into overlapping, sentence-aligned chunks within the token budget.

    `count_tokens` returns the model's token count (special tokens included) for each text; the
    prompt and the title/heading context count against the budget, so the model never truncates.
    """
    title = article.title
    text = article.text
    chunks: list[Chunk] = []

    def make(s: int, e: int, heading: str | None) -> Chunk:
        body = text[s:e]
        return Chunk(chunk_id(article.doc_id, s, e, body), article.doc_id, len(chunks), s, e, body, heading, article.date, title)

    for section in _sections(article):
        heading = section.heading
        if title is not None and heading == title.lstrip("–—- "):
            heading = None
        probe = make(0, 0, heading)
        overhead = count_tokens([prompt + probe.passage(params.with_title)])[0]
        budget_hard = params.max_tokens - overhead
        budget = min(params.target_tokens, params.max_tokens) - overhead
        if budget_hard < 8:
            raise ValueError(f"max_tokens={params.max_tokens} leaves no room for text after the prompt and headings")
        budget = max(budget, 8)
        sentences = [(ss, se, is_text) for s, e, is_text in section.lines for ss, se in split_sentences(text, s, e)]
        lengths = count_tokens([text[s:e] for s, e, _ in sentences])
        units: list[tuple[int, int, int, bool]] = []
        for (s, e, is_text), n in zip(sentences, lengths):
            if n <= budget:
                units.append((s, e, n, is_text))
            else:

                def one(t: str) -> int:
                    return count_tokens([t])[0]

                units.extend((ps, pe, one(text[ps:pe]), is_text) for ps, pe in _split_long(text, s, e, one, budget))
        i = floor = 0
        while i < len(units):
            if not any(u[3] for u in units[i:]):
                # Only captions are left: attach them to the last sentence of text before them, unless
                # that would start where a chunk already started (a caption longer than a chunk): then the
                # pieces left are dropped, as a caption never makes a chunk on its own.
                i = max((t for t in range(i) if units[t][3]), default=i)
                if i < floor:
                    break
            floor = i + 1
            j, used = i, 0
            while j < len(units) and (j == i or used + units[j][2] <= budget or not any(u[3] for u in units[i:j])):
                used += units[j][2]
                j += 1
            chunk = make(units[i][0], units[j - 1][1], heading)
            # Exact count against the hard limit: drop trailing units until the model sees it whole.
            tokens = count_tokens([prompt + chunk.passage(params.with_title)])[0]
            while j - 1 > i and tokens > params.max_tokens:
                j -= 1
                chunk = make(units[i][0], units[j - 1][1], heading)
                tokens = count_tokens([prompt + chunk.passage(params.with_title)])[0]
            chunks.append(replace(chunk, tokens=tokens))
            if j >= len(units):
                break
            # Overlap: start the next chunk with the trailing units that fit the overlap budget.
            back, k = 0, j
            while (
                k - 1 > i and back + units[k - 1][2] <= params.overlap_tokens and back + units[k - 1][2] + units[j][2] <= budget
            ):
                back += units[k - 1][2]
                k -= 1
            i = k
    return chunks
