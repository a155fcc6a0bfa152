"""Shared by the reliability tests and bench/reliability.py: seeded corpora, the writer process, index states."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np

from semsearch.index import store

DRIVER = Path(__file__).with_name("crash_driver.py")
ROOT = Path(__file__).resolve().parents[1]
SENTENCES = [
    "Møtet fant sted like før Tillerson setter kursen mot Moskva.",
    "Lavrov uttalte at samtalene var åpne og viktige, men han anklaget USA for å trappe opp konflikten.",
    "Regjeringen vil bruke mer penger på skole, sykehus og veier i hele landet.",
    "Været blir kaldt i helgen, med snø i fjellet og sludd langs kysten.",
    "Stortinget vedtok budsjettet etter lange forhandlinger mellom partiene.",
    "Fotballaget vant kampen to null etter et sent mål på overtid.",
    "Prisene på strøm har steget kraftig i Sør-Norge denne vinteren.",
    "Åpningen av den nye tunnelen ble utsatt på grunn av økte kostnader.",
]


def article(doc: int, version: int) -> str:
    """A seeded article: a date line and a few paragraphs, every sentence marked with its document and version."""
    rng = random.Random(doc * 7919 + version)
    paragraphs = []
    for p in range(rng.randint(2, 5)):
        marks = [f"(sak {doc} utgave {version} ledd {p} nr {i})" for i in range(rng.randint(2, 5))]
        sentences = [f"{rng.choice(SENTENCES)[:-1]} {mark}." for mark in marks]
        paragraphs.append(" ".join(sentences))
    return f" date 20{10 + doc % 10}-0{1 + doc % 9} " + "\n\n".join(paragraphs) + "\n"


def write_corpus(folder: Path, versions: dict[int, int]) -> Path:
    """Make `folder` hold exactly these documents (doc number -> version); unchanged files are not touched."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {f"doc{d:03d}.txt": article(d, v) for d, v in versions.items()}
    for path in folder.glob("*.txt"):
        if path.name not in wanted:
            path.unlink()
    for name, text in wanted.items():
        path = folder / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return folder


def live_state(index: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Every live document of the newest generation: its stored text and its sorted chunk ids.

    Also asserts what every reader relies on: each live chunk's text is its document's text[start:end].
    """
    gen = store.open_generation(index)
    live = np.flatnonzero(gen.is_alive(np.arange(gen.rows)))
    chunks: dict[str, list] = {}
    for c in gen.chunks(live):
        chunks.setdefault(c.doc_id, []).append(c)
    out = {}
    for doc_id, found in chunks.items():
        text = gen.document(doc_id)["text"]
        assert all(text[c.start : c.end] == c.text for c in found), f"{doc_id}: a chunk does not match its text"
        out[doc_id] = (text, tuple(sorted(c.id for c in found)))
    return out


def run_driver(kind: str, index: Path, arg: str | Path, model: str, fault_at: int = 0, log: Path | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:  # fmt: skip
    """Run the writer process (tests/crash_driver.py) to its end or its fault point."""
    cmd = [sys.executable, str(DRIVER), kind, str(index), str(arg), model, str(fault_at)] + ([str(log)] if log else [])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def fault_points(result: subprocess.CompletedProcess) -> int:
    """The number of durable-write steps an uninterrupted driver run reported."""
    assert result.returncode == 0, result.stderr[-2000:]
    return int(result.stdout.split("fault-points ")[-1].split()[0])


def write_update(path: Path, add: dict[str, str], delete: list[str]) -> Path:
    """The JSON file the driver's "update" kind reads."""
    path.write_text(json.dumps({"add": [{"id": k, "text": v} for k, v in add.items()], "delete": delete}), encoding="utf-8")
    return path


def api_docs(records: list[dict]):
    """The documents of API records, as `update_index` takes them (read with the index's recorded options)."""
    from semsearch.ingest.builder import API_SOURCE
    from semsearch.ingest.sources import record_docs

    return lambda options: record_docs(records, options, API_SOURCE)
