"""Index terms added to a question's own, so that BM25 finds what a question in another language asks:

- translations: the Norwegian terms of the English question's words (`search.lexicon`);
- dense feedback: the most telling terms of the chunks the dense search ranks best (pseudo-relevance
  feedback). It needs no dictionary, so it serves any language the model knows.

Added terms weigh less than the question's own, and never lower a weight the question already gives.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from semsearch.index.generation import Generation
from semsearch.search.lexical import bm25_idf


def add_terms(query: dict[str, float], extra: dict[str, float]) -> dict[str, float]:
    """The question's terms with `extra` added: the larger weight of a term given twice."""
    out = dict(query)
    for term, weight in extra.items():
        out[term] = max(out.get(term, 0.0), weight)
    return out


def translations(text: str, weight: float, known: Callable[[list[str]], set[str]] | None = None) -> dict[str, float]:
    """The Norwegian terms of an English question's words, each word's weight shared over its n
    translations as weight / sqrt(n) (a word with many senses says less about each). A translation's
    other forms ("vinn/vant/vunn": a verb's past tenses) get its weight too.

    With `known` (the terms an index holds, of those asked), only known terms count, and n is the number
    of translations the index knows: the word list spells out forms generously, two neighbouring words
    also try the compounds their translations make (`lexicon.compounds`), and a term no chunk holds would
    only dilute the word's share and the question's coverage."""
    out: dict[str, float] = {}
    groups = translation_groups(text, compounds=known is not None)
    if known is not None:
        held = known(sorted({term for group in groups for t in group for term in t.split("/")}))
        groups = [kept for group in groups if (kept := _known_forms(group, held))]
    for group in groups:
        share = weight / math.sqrt(len(group))
        for translation in group:
            for term in translation.split("/"):
                out[term] = max(out.get(term, 0.0), share)
    return out


def translation_groups(text: str, compounds: bool = True) -> list[tuple[str, ...]]:
    """The word list's groups for an English question: each word's (or two-word phrase's) translations, then,
    with `compounds`, the compounds two neighbouring words make (`search.lexicon`)."""
    from semsearch.search import lexicon  # the word list: read for English questions only

    spans = lexicon.translate_spans(text)
    return [group for _, group in spans] + (lexicon.compounds(text, spans) if compounds else [])


def _known_forms(group: tuple[str, ...], held: set[str]) -> tuple[str, ...]:
    """The translations of `group` with their forms that `held` has, each as "form/form"; none: dropped."""
    kept = ("/".join(f for f in t.split("/") if f in held) for t in group)
    return tuple(dict.fromkeys(t for t in kept if t))


def index_terms(gen: Generation) -> Callable[[list[str]], set[str]]:
    """Which of some terms the generation's chunks hold (deleted ones included, as in BM25's statistics)."""
    return lambda terms: {term for term, n in document_frequencies(gen, terms).items() if n}


def document_frequencies(gen: Generation, terms: Sequence[str]) -> dict[str, int]:
    """How many chunks of the generation hold each term (deleted ones included, as in BM25's statistics)."""
    df: Counter[str] = Counter()
    for segment in gen.segments:
        df.update({term: len(rows) for term, (rows, _) in segment.postings(list(terms)).items()})
    return df


def feedback(gen: Generation, rows: np.ndarray, weight: float, terms: int, skip: set[str]) -> dict[str, float]:
    """The `terms` index terms of the chunks at `rows` (best first) with the most evidence: in how many of
    them a term occurs, over the first chunk's weight 1 falling as 1/rank, times its IDF. Each gets `weight`
    scaled by its evidence over the best term's. Terms in `skip` (the question's own) are left out."""
    if not len(rows) or weight <= 0 or terms <= 0:
        return {}
    evidence: Counter[str] = Counter()
    for rank, text in enumerate(gen.sentence_texts(rows), 1):
        for term in set(text.replace("\t", " ").split()):
            if term not in skip and not term.isdigit():
                evidence[term] += 1.0 / rank
    if not evidence:
        return {}
    df = document_frequencies(gen, list(evidence))
    n = max(gen.rows, 1)
    scored = {t: e * bm25_idf(n, df.get(t, 0)) for t, e in evidence.items()}
    best = sorted(scored, key=lambda t: (-scored[t], t))[:terms]
    top = scored[best[0]]
    return {t: weight * scored[t] / top for t in best if scored[t] > 0}
