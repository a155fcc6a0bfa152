"""NoReC data for bench/scale.py: corpus folders of review subsets, extra reviews to add, and questions.

Reviews are `{"id", "title", "text"}` lines of norec-nb.jsonl.gz; a review becomes `<id>.txt` holding
`title\\n\\ntext`. Subsets are prefixes of the file, so the smaller corpora are parts of the larger ones.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOREC = ROOT.parent / "shared" / "data" / "norec" / "norec-nb.jsonl.gz"
EXTRA = 10  # reviews held back from every subset, for the "add 10" update
MTIME_NS = 1_700_000_000 * 10**9  # every written file gets this mtime, so a rewritten corpus looks unchanged

TEMPLATES = (
    "Hva synes anmelderen om {t}?",
    "Er {t} verdt pengene?",
    "Anmeldelse av {t}",
    "Hvordan er {t}?",
    "Hvilket terningkast fikk {t}?",
    "{t}",
    "Hva er bra og dårlig med {t}?",
    "Anbefaler kritikeren {t}?",
)


def reviews(path: Path = NOREC, limit: int | None = None) -> Iterator[dict]:
    """The reviews of the data file, in file order."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if limit is not None and i >= limit:
                return
            yield json.loads(line)


def count_reviews(path: Path = NOREC) -> int:
    """How many reviews the data file holds."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return sum(1 for _ in fh)


def review_text(review: dict) -> str:
    """The file content of one review."""
    return f"{review['title']}\n\n{review['text']}"


def write_corpus(folder: Path, docs: int, path: Path = NOREC) -> list[dict]:
    """Write the first `docs` reviews as `<id>.txt` into a fresh `folder`; returns the EXTRA reviews after them."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    extra = []
    for i, review in enumerate(reviews(path, docs + EXTRA)):
        if i < docs:
            path = folder / f"{review['id']}.txt"
            path.write_text(review_text(review), encoding="utf-8")
            os.utime(path, ns=(MTIME_NS, MTIME_NS))
        else:
            extra.append(review)
    return extra


def questions(n: int = 100, pool: int = 1000, seed: int = 8, path: Path = NOREC) -> list[str]:
    """`n` varied Norwegian questions about reviews among the first `pool` (present in every subset)."""
    rng = random.Random(seed)
    titles = [r["title"].strip() for r in reviews(path, pool) if r["title"].strip()]
    picked = rng.sample(titles, min(n, len(titles)))
    return [TEMPLATES[i % len(TEMPLATES)].format(t=t) for i, t in enumerate(picked)]
