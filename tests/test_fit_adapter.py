"""bench/fit_adapter.py's fits: the listwise map makes a distorted question rank passages as its twin does."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from fit_adapter import listwise, mapped, ridge_to_identity  # noqa: E402


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _pairs(n: int = 400, dim: int = 16, seed: int = 0):
    """Twin questions near their own passage, and 'English' questions: the twins seen through a fixed distortion."""
    rng = np.random.default_rng(seed)
    passages = _unit(rng.normal(size=(n, dim)))
    twins = _unit(passages + 0.3 * rng.normal(size=(n, dim)))
    distortion = np.eye(dim) + 0.6 * rng.normal(size=(dim, dim)) / np.sqrt(dim)
    english = _unit(twins @ distortion)
    return english, twins, passages


def _agreement(q: np.ndarray, twins: np.ndarray, passages: np.ndarray) -> float:
    """Share of questions whose best passage is their twin's best passage."""
    return float(np.mean(np.argmax(q @ passages.T, axis=1) == np.argmax(twins @ passages.T, axis=1)))


def test_listwise_map_ranks_like_the_twin_on_questions_it_never_saw():
    english, twins, passages = _pairs()
    fit_on, held = slice(0, 300), slice(300, None)
    w = listwise(english[fit_on], twins[fit_on], passages, tau=0.05, lam=1e-4, steps=200)
    before = _agreement(english[held], twins[held], passages)
    after = _agreement(mapped(english[held], w), twins[held], passages)
    assert after > before + 0.1, (before, after)


def test_strong_regularisation_keeps_both_fits_at_the_identity():
    english, twins, passages = _pairs(n=100)
    assert np.allclose(ridge_to_identity(english, twins, 1e9), np.eye(english.shape[1]), atol=1e-5)
    assert np.allclose(listwise(english, twins, passages, tau=0.05, lam=1e3, steps=50), np.eye(english.shape[1]), atol=1e-2)
