"""Packing sentence units into chunks: greedy within the budget, trailing units carried over as overlap."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import NamedTuple

from semsearch.chunking.counting import CountCache

_WORD = re.compile(r"\S+")
_PREFIX_WINDOW = 32  # prefixes of an over-long sentence counted per counter call


class Unit(NamedTuple):
    """A sentence (or a piece of an over-long one): its span, token count and whether it is body text."""

    start: int
    end: int
    tokens: int
    is_text: bool


def split_long(text: str, start: int, end: int, count: CountCache, budget: int) -> list[tuple[int, int]]:
    """Cut one over-long sentence at word boundaries into pieces that fit `budget` tokens.

    A piece grows word by word and is cut before the first word whose prefix exceeds the budget (a
    single word always makes a piece). Every prefix up to that word is counted, as growing one word at
    a time would, but `_PREFIX_WINDOW` prefixes per counter call.
    """
    words = [m.span() for m in _WORD.finditer(text, start, end)]
    pieces: list[tuple[int, int]] = []
    first = 0
    while first < len(words):
        piece_start = words[first][0]
        cut = None
        nxt = first + 1
        while cut is None and nxt < len(words):
            window = range(nxt, min(nxt + _PREFIX_WINDOW, len(words)))
            count.prefetch(text[piece_start : words[w][1]] for w in window)
            cut = next((w for w in window if count(text[piece_start : words[w][1]]) > budget), None)
            nxt = window.stop
        if cut is None:
            pieces.append((piece_start, words[-1][1]))
            break
        pieces.append((piece_start, words[cut - 1][1]))
        first = cut
    return pieces


def units_of(text: str, sentences: list[tuple[int, int, bool]], count: CountCache, budget: int) -> list[Unit]:
    """Counted units of a section: its sentences, an over-long one cut into pieces at words."""
    units: list[Unit] = []
    for s, e, is_text in sentences:
        n = count(text[s:e])
        if n <= budget:
            units.append(Unit(s, e, n, is_text))
        else:
            units.extend(Unit(ps, pe, count(text[ps:pe]), is_text) for ps, pe in split_long(text, s, e, count, budget))
    return units


# settle(i, j) -> (j', tokens): the chunk of units[i:j] after the exact check against the hard limit.
Settle = Callable[[int, int], tuple[int, int]]


def pack(units: list[Unit], budget: int, overlap_tokens: int, settle: Settle) -> Iterator[tuple[int, int, int]]:
    """Yield (i, j, tokens) for successive chunks `units[i:j]`.

    Each chunk takes units while they fit `budget` (at least one, and always up to a unit of body
    text); `settle` may then drop trailing units. The next chunk starts with the trailing units that fit
    `overlap_tokens`. Captions left at the end attach to the last sentence of text before them.
    This is the reference algorithm (tests/reference_chunker.py) step for step, except that it always
    ends: the reference loops forever where captions follow the last text and its chunk is cut short.
    """
    last_text = max((t for t, u in enumerate(units) if u.is_text), default=-1)
    i, text_end_started = 0, False
    while i < len(units):
        if 0 <= last_text < i and not text_end_started:
            # Only captions are left: go back to the last sentence of text. (Once a chunk has started
            # there, going back again repeats that chunk forever, as the reference chunker does when the
            # chunk was cut short; then the captions go on in chunks of their own.)
            i = last_text
        text_end_started = text_end_started or i == last_text
        j, used, has_text = i, 0, False
        while j < len(units) and (j == i or used + units[j].tokens <= budget or not has_text):
            used += units[j].tokens
            has_text = has_text or units[j].is_text
            j += 1
        j, tokens = settle(i, j)
        yield i, j, tokens
        if j >= len(units):
            break
        back, k = 0, j
        while k - 1 > i and (n := units[k - 1].tokens) + back <= overlap_tokens and back + n + units[j].tokens <= budget:
            back += n
            k -= 1
        i = k
