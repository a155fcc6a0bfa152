"""Answering questions from an index: dense, lexical and hybrid ranking."""

from semsearch.search.language import question_language
from semsearch.search.searcher import FEATURES, MODES, FusionParams, LanguageFusion, Mode, Result, Searcher, looks_english

__all__ = [
    "FEATURES",
    "MODES",
    "FusionParams",
    "LanguageFusion",
    "Mode",
    "Result",
    "Searcher",
    "looks_english",
    "question_language",
]
