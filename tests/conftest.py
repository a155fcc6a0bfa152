"""Shared fixtures: the repo's corpus, a tiny real sentence-transformers model, and indexes built with it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
sys.path.insert(0, str(Path(__file__).parent))


try:  # property tests run the same examples every time: CI is never red by chance
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("semsearch", derandomize=True, deadline=None)
    _hypothesis_settings.load_profile("semsearch")
except ImportError:  # pragma: no cover
    pass


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: uses the real multilingual-e5-small model (minutes on CPU)")
    from fake_encoder import NAME, CountingEncoder

    from semsearch.embedding import encoders

    encoders.register(NAME, CountingEncoder)


@pytest.fixture
def counting_encoder():
    """The fake encoder registered as "counting" (tests/fake_encoder.py), its log emptied."""
    from fake_encoder import CountingEncoder

    CountingEncoder.reset()
    yield CountingEncoder
    CountingEncoder.reset()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny real sentence-transformers model (2-layer BERT), built and saved by the tests."""
    from tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch, request):
    """Fast tests get their own cache folder; the slow tier shares the user's cache (the real model lives there)."""
    if "slow" not in request.keywords:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
    monkeypatch.delenv("SEMSEARCH_MODEL", raising=False)


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A writable copy of the shipped corpus."""
    dest = tmp_path / "corpus"
    shutil.copytree(CORPUS, dest)
    return dest


@pytest.fixture(scope="session")
def tiny_index(tiny_model, tmp_path_factory) -> Path:
    """An index of the shipped corpus built with the tiny model (shared, read-only)."""
    import semsearch

    index = tmp_path_factory.mktemp("tiny-index") / "index"
    semsearch.build_index(CORPUS, index, model=str(tiny_model))
    return index
