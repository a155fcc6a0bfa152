"""Sentences and sections of an article: where chunks may start and end."""

from __future__ import annotations

import re
from dataclasses import dataclass

from semsearch.reading.articles import Article

# Sentence ends: terminal punctuation (optionally closing quotes), whitespace, then a capital, digit,
# quote or dash. Common Norwegian abbreviations are not sentence ends.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'»”’)]*\s+(?=[\"«“'(–—-]?\s*[A-ZÆØÅÄÖÜÉ0-9])")
_ABBREVIATIONS = frozenset(
    "bl.a f.eks ca nr dr mr mrs ms st jf ev evt osv mv pga mht kl tlm etc vs prof dvs adm red inkl ekskl"
    " ref mill mrd kr fig ifm iflg henh jan feb mar apr aug sep sept okt nov des".split()
)


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


def sentences_of(text: str) -> list[str]:
    """The sentences and lines of a chunk's text (a heading line is a sentence of its own)."""
    return [line.strip() for s, e in split_sentences(text, 0, len(text)) for line in text[s:e].splitlines() if line.strip()]


@dataclass(frozen=True)
class Section:
    """A heading (or none) and the lines under it: (start, end, is_text) with is_text False for the
    heading line itself and photo captions, which never make a chunk on their own."""

    heading: str | None
    lines: list[tuple[int, int, bool]]

    def sentences(self, text: str) -> list[tuple[int, int, bool]]:
        """The section's sentence spans in `text`, each with its line's is_text flag."""
        return [(ss, se, is_text) for s, e, is_text in self.lines for ss, se in split_sentences(text, s, e)]


def sections(article: Article) -> list[Section]:
    """Split the article at headings; boilerplate ends a run. The heading line opens its section."""
    found: list[Section] = []
    current = Section(None, [])
    for block in article.blocks:
        if block.kind == "heading":
            if current.lines:
                found.append(current)
            heading = article.text[block.start : block.end].lstrip("–—- ")
            current = Section(heading, [(block.start, block.end, False)])
        elif block.kind == "boilerplate":
            if current.lines:
                found.append(current)
            current = Section(current.heading, [])
        else:
            current.lines.append((block.start, block.end, block.kind == "paragraph"))
    if current.lines:
        found.append(current)
    return [sec for sec in found if any(is_text for _, _, is_text in sec.lines)]
