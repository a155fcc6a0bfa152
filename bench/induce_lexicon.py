"""Induce English -> Norwegian word pairs from the model itself: embed general English words and Norwegian
dictionary words ("query: word", multilingual-e5-small) and keep each English word's Norwegian nearest
neighbours by CSLS (cross-domain similarity local scaling: cosine less each side's mean similarity to its
10 nearest neighbours on the other side, so "hub" words that are near everything lose). The shipped word
list takes each English word's best Norwegian word at a CSLS of 0.05 or more (bench/build_lexicon.py):
on NorQuAD train, cross-fitted, that did best among 0, 0.02, 0.05 and 0.1, one or two words.

    apt-get install wamerican-small wbritish-small dict-freedict-{eng,swe,ell,fin,ita,pol}-nor
    .venv/bin/python bench/induce_lexicon.py [--min-csls 0.05] [--top 1] [--out FILE.tsv]

English words: SCOWL's american- and british-english-small (/usr/share/dict, permissive licence). Norwegian words: the
Norwegian sides of FreeDict/WikDict's dictionaries into Norwegian (CC-BY-SA 3.0): general vocabulary, no
NorQuAD or NoReC text. The pairs are checked against FreeDict's English-Norwegian dictionary (precision at
1 over the English words it has). Vectors are cached in the user cache.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import build_lexicon  # noqa: E402

from semsearch.analysis import analyze  # noqa: E402
from semsearch.search.lexicon import english_key  # noqa: E402

ENGLISH_WORDS = (Path("/usr/share/dict/american-english-small"), Path("/usr/share/dict/british-english-small"))
DICTD = Path("/usr/share/dictd")
NORWEGIAN_SOURCES = ("eng-nor", "swe-nor", "ell-nor", "fin-nor", "ita-nor", "pol-nor")


def english_vocabulary(paths: tuple[Path, ...] = ENGLISH_WORDS) -> dict[str, str]:
    """English lexicon key -> its shortest word in the lists (lower-case words of 3+ letters, no stop words)."""
    out: dict[str, str] = {}
    for path in paths:
        build_lexicon.require(path, "w" + path.name.replace("-english", ""))  # wamerican-small, wbritish-small
    for word in (w for path in paths for w in path.read_text(encoding="utf-8").split()):
        if word.isalpha() and word.islower() and len(word) >= 3 and (key := english_key([word])):
            if key not in out or len(word) < len(out[key]):
                out[key] = word
    return out


def norwegian_vocabulary(sources=NORWEGIAN_SOURCES) -> dict[str, str]:
    """Norwegian index term -> its shortest word among the one-word translations of the dictionaries."""
    out: dict[str, str] = {}
    for name in sources:
        for _, entry in build_lexicon.entries(DICTD / f"freedict-{name}"):
            for word in build_lexicon.translations(entry):
                word = word.lower()
                if word.isalpha() and len(word) >= 2 and len(terms := analyze(word)) == 1:
                    if terms[0] not in out or len(word) < len(out[terms[0]]):
                        out[terms[0]] = word
    return out


def embed(words: list[str]) -> np.ndarray:
    """`query: word` vectors of the default model, cached by model and words."""
    from semsearch.embedding import Embedder
    from semsearch.embedding.models import resolve_model
    from semsearch.embedding.pypi_model import cache_root

    spec = resolve_model(download=False)
    key = hashlib.sha256(("\n".join(words) + spec.variant + str(spec.path)).encode()).hexdigest()[:16]
    path = cache_root() / "eval" / f"words-{key}.npy"
    if path.is_file():
        return np.load(path)
    embedder = Embedder(spec, backend="onnx")
    vectors = np.concatenate([embedder.embed_queries(words[i : i + 4096]) for i in range(0, len(words), 4096)])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def mean_top(a: np.ndarray, b: np.ndarray, k: int = 10, block: int = 2048) -> np.ndarray:
    """For each row of a: the mean cosine of its k nearest rows of b."""
    out = np.empty(len(a), np.float32)
    for i in range(0, len(a), block):
        sims = a[i : i + block] @ b.T
        out[i : i + block] = np.partition(sims, -k, axis=1)[:, -k:].mean(axis=1)
    return out


def csls_top(en: np.ndarray, nb: np.ndarray, top: int = 1, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """For each English row: its `top` Norwegian rows by CSLS, best first, and their scores."""
    r_en, r_nb = mean_top(en, nb), mean_top(nb, en)
    best_rows = np.empty((len(en), top), np.int64)
    best_scores = np.empty((len(en), top), np.float32)
    for i in range(0, len(en), block):
        scores = 2 * (en[i : i + block] @ nb.T) - r_en[i : i + block, None] - r_nb[None, :]
        part = np.argpartition(-scores, top, axis=1)[:, :top]
        vals = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-vals, axis=1)
        best_rows[i : i + block] = np.take_along_axis(part, order, axis=1)
        best_scores[i : i + block] = np.take_along_axis(vals, order, axis=1)
    return best_rows, best_scores


def induce(min_csls: float = 0.05, top: int = 1) -> dict[str, list[tuple[str, float]]]:
    """English key -> its best `top` Norwegian index terms with their CSLS, those of at least `min_csls`."""
    english, norwegian = english_vocabulary(), norwegian_vocabulary()
    en_keys, nb_terms = list(english), list(norwegian)
    en = embed([english[k] for k in en_keys])
    nb = embed([norwegian[t] for t in nb_terms])
    rows, scores = csls_top(en, nb, top)
    out = {}
    for key, found, score in zip(en_keys, rows.tolist(), scores.tolist()):
        kept = [(nb_terms[j], round(s, 3)) for j, s in zip(found, score) if s >= min_csls]
        if kept:
            out[key] = kept
    return out


def precision(induced: dict[str, list[tuple[str, float]]], dictionary: dict[str, list[str]]) -> tuple[float, int]:
    """Share of induced first translations that the dictionary gives the same English key, over the keys both have."""
    both = [k for k in induced if k in dictionary]
    return sum(induced[k][0][0] in dictionary[k] for k in both) / max(len(both), 1), len(both)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--min-csls", type=float, default=0.05)
    ap.add_argument("--top", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    induced = induce(args.min_csls, args.top)
    p, n = precision(induced, build_lexicon.build(build_lexicon.FREEDICT))
    print(f"{len(induced)} English keys, precision at 1 against FreeDict {p:.3f} over {n} keys")
    if args.out:
        args.out.write_text("".join(f"{k}\t{' '.join(f'{t}:{s}' for t, s in v)}\n" for k, v in sorted(induced.items())))


if __name__ == "__main__":
    main()
