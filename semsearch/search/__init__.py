"""Answering questions from an index: dense, lexical and hybrid ranking."""

from semsearch.search.searcher import FEATURES, MODES, FusionParams, Mode, Result, Searcher, looks_english

__all__ = ["FEATURES", "MODES", "FusionParams", "Mode", "Result", "Searcher", "looks_english"]
