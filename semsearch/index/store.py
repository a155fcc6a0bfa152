"""The index on disk: immutable snapshots, swapped in atomically, each self-consistent and checked on load.

Layout of an index folder:
    CURRENT                 name of the live snapshot (replaced atomically with os.replace)
    snapshots/<name>/       manifest.json, dense.faiss, chunks.sqlite, lexical/
    .lock                   serialises writers

A build writes a complete snapshot into a temporary folder, renames it into `snapshots/`, then points
CURRENT at it. An interrupted build leaves CURRENT, and so the previous index, untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import numpy as np

from semsearch.errors import SemsearchError

FORMAT_VERSION = 3
MANIFEST = "manifest.json"
DENSE = "dense.faiss"
CHUNKS = "chunks.sqlite"
LEXICAL = "lexical"


@dataclass(frozen=True)
class ChunkRow:
    """A stored chunk: what a search result is made from.

    `terms` are its analysed lexical terms (space-separated); `sentence_terms` the same per sentence,
    tab-separated, so the lexical index can be rebuilt without re-reading or re-analysing text.
    """

    id: int
    doc_id: str
    position: int
    start: int
    end: int
    text: str
    heading: str | None
    date: str | None
    title: str | None
    tokens: int
    terms: str
    sentence_terms: str


_SCHEMA = {
    "id": "INTEGER PRIMARY KEY",
    "doc_id": "TEXT NOT NULL",
    "position": "INTEGER",
    "start": "INTEGER",
    "end": "INTEGER",
    "text": "TEXT",
    "heading": "TEXT",
    "date": "TEXT",
    "title": "TEXT",
    "tokens": "INTEGER",
    "terms": "TEXT",
    "sentence_terms": "TEXT",
}
assert list(_SCHEMA) == [f.name for f in fields(ChunkRow)], "the chunk table and ChunkRow must list the same columns"
_COLUMNS = ", ".join(f'"{name}"' for name in _SCHEMA)


def current_snapshot(root: Path) -> Path | None:
    """The live snapshot folder of the index at `root`, or None when none was ever completed."""
    pointer = Path(root) / "CURRENT"
    if not pointer.is_file():
        return None
    snapshot = Path(root) / "snapshots" / pointer.read_text().strip()
    return snapshot if snapshot.is_dir() else None


def lock(root: Path):
    """An exclusive lock on the index folder for the duration of a build."""
    from filelock import FileLock

    Path(root).mkdir(parents=True, exist_ok=True)
    return FileLock(str(Path(root) / ".lock"), timeout=600)


def _faiss():
    import faiss

    return faiss


def new_dense(dim: int):
    """An empty exact inner-product FAISS index keyed by chunk id."""
    faiss = _faiss()
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def dense_ids(dense) -> np.ndarray:
    """Chunk ids in the dense index's internal row order (the lexical index uses the same order)."""
    return _faiss().vector_to_array(dense.id_map).astype(np.int64)


def dense_vectors(dense) -> np.ndarray:
    """Zero-copy view of the stored vectors, in row order."""
    faiss = _faiss()
    flat = faiss.downcast_index(dense.index)
    return faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)


class SnapshotWriter:
    """Writes one complete snapshot into a temporary folder; `commit` makes it the live index."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.name = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        (self.root / "snapshots").mkdir(parents=True, exist_ok=True)
        self.tmp = self.root / "snapshots" / f".tmp-{self.name}"
        self.tmp.mkdir()
        self.db = sqlite3.connect(self.tmp / CHUNKS)
        columns = ", ".join(f'"{name}" {kind}' for name, kind in _SCHEMA.items())
        self.db.execute(f"CREATE TABLE chunks ({columns})")

    def copy_chunks(self, source: Path, keep_docs: Iterable[str]) -> None:
        """Copy the rows of `keep_docs` from a previous snapshot's chunk store."""
        self.db.execute("ATTACH DATABASE ? AS old", (str(source / CHUNKS),))
        self.db.execute("CREATE TEMP TABLE keep (doc_id TEXT PRIMARY KEY)")
        self.db.executemany("INSERT INTO keep VALUES (?)", ((d,) for d in keep_docs))
        self.db.execute("INSERT INTO chunks SELECT c.* FROM old.chunks c JOIN keep USING (doc_id)")
        self.db.commit()
        self.db.execute("DETACH DATABASE old")

    def add_chunks(self, rows: Sequence[ChunkRow]) -> None:
        """Store new chunk rows."""
        marks = ",".join("?" * len(_SCHEMA))
        self.db.executemany(f"INSERT INTO chunks ({_COLUMNS}) VALUES ({marks})", (astuple(r) for r in rows))

    def terms_in(self, ids: np.ndarray) -> tuple[list[list[str]], list[list[list[str]]]]:
        """The analysed terms of the chunks with these ids, in this order: per chunk, and per sentence."""
        found = {i: (t, st) for i, t, st in self.db.execute("SELECT id, terms, sentence_terms FROM chunks")}
        rows = [found[int(i)] for i in ids]
        return [t.split() for t, _ in rows], [[s.split() for s in st.split("\t")] for _, st in rows]

    def commit(self, dense, lexical, manifest: dict) -> Path:
        """Finish the snapshot (dense index, lexical index, manifest), then swap it in atomically."""
        self.db.execute("CREATE INDEX chunks_doc ON chunks (doc_id)")
        self.db.commit()
        count = self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        self.db.close()
        if not (count == dense.ntotal == lexical.size == manifest["counts"]["chunks"]):
            raise RuntimeError(f"index parts out of step: {count} rows, {dense.ntotal} vectors, {lexical.size} lexical rows")
        _faiss().write_index(dense, str(self.tmp / DENSE))
        lexical.save(self.tmp / LEXICAL)
        manifest = {**manifest, "snapshot": self.name}
        (self.tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        for f in self.tmp.rglob("*"):
            if f.is_file():
                with f.open("rb") as fh:
                    os.fsync(fh.fileno())
        final = self.root / "snapshots" / self.name
        os.replace(self.tmp, final)
        pointer = self.root / f".CURRENT.{self.name}"
        pointer.write_text(self.name + "\n")
        os.replace(pointer, self.root / "CURRENT")
        self._prune(keep=self.name)
        return final

    def abort(self) -> None:
        """Throw the temporary folder away; the live index is untouched."""
        try:
            self.db.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _prune(self, keep: str) -> None:
        for old in (self.root / "snapshots").iterdir():
            if old.name != keep:
                shutil.rmtree(old, ignore_errors=True)


class Snapshot:
    """A loaded, checked snapshot: manifest, dense index, chunk store and lexical index."""

    def __init__(self, folder: Path):
        self.folder = folder
        try:
            self.manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise SemsearchError(
                f"index snapshot '{folder}' has no readable manifest ({e}): rebuild it with `semsearch index`"
            ) from e
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise SemsearchError(
                f"index '{folder.parent.parent}' has format {self.manifest.get('format_version')}, this semsearch reads "
                f"{FORMAT_VERSION}: rebuild it with `semsearch index`"
            )
        self.dense = _faiss().read_index(str(folder / DENSE))
        self.db = sqlite3.connect(f"file:{folder / CHUNKS}?mode=ro", uri=True, check_same_thread=False)
        expected = self.manifest["counts"]["chunks"]
        rows = self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        if not (self.dense.ntotal == rows == expected):
            raise SemsearchError(
                f"index '{folder.parent.parent}' is inconsistent: manifest says {expected} chunks, FAISS holds "
                f"{self.dense.ntotal} vectors, the chunk store {rows} rows; rebuild it with `semsearch index`"
            )
        if self.dense.d != self.manifest["model"]["dim"]:
            raise SemsearchError(
                f"index '{folder.parent.parent}' vectors have dimension {self.dense.d}, "
                f"manifest says {self.manifest['model']['dim']}: rebuild it with `semsearch index`"
            )
        self.ids = dense_ids(self.dense)
        self._lexical = None

    @property
    def lexical(self):
        """The lexical index, loaded on first use and checked against the dense one."""
        if self._lexical is None:
            from semsearch.index.lexical import LexicalIndex

            lexical = LexicalIndex.load(self.folder / LEXICAL)
            if lexical.size != self.dense.ntotal:
                raise SemsearchError(
                    f"index '{self.folder.parent.parent}' lexical part has {lexical.size} rows, "
                    f"dense {self.dense.ntotal}: rebuild it with `semsearch index`"
                )
            self._lexical = lexical
        return self._lexical

    def rows(self, ids: Sequence[int]) -> list[ChunkRow]:
        """The stored chunks with these ids, in this order."""
        marks = ",".join("?" * len(ids))
        sql = f"SELECT {_COLUMNS} FROM chunks WHERE id IN ({marks})"
        found = {r[0]: ChunkRow(*r) for r in self.db.execute(sql, [int(i) for i in ids])}
        return [found[int(i)] for i in ids]

    def mean_lengths(self) -> tuple[float, float]:
        """Mean chunk length in characters and in model tokens."""
        chars, tokens = self.db.execute('SELECT AVG("end" - start), AVG(tokens) FROM chunks').fetchone()
        return float(chars or 0), float(tokens or 0)

    def doc_ids_of_rows(self) -> np.ndarray:
        """The document id of every dense row, in row order (for grouping and filtering)."""
        by_id = dict(self.db.execute("SELECT id, doc_id FROM chunks"))
        return np.array([by_id[int(i)] for i in self.ids], dtype=object)

    def close(self) -> None:
        """Release the chunk store."""
        self.db.close()


def open_snapshot(root: Path) -> Snapshot:
    """Load and check the live snapshot of the index at `root`, with a clear error when there is none."""
    root = Path(root)
    if not root.is_dir():
        raise SemsearchError(f"index folder '{root}' does not exist: build it with `semsearch index CORPUS --index {root}`")
    snapshot = current_snapshot(root)
    if snapshot is None:
        raise SemsearchError(f"index folder '{root}' holds no index: build it with `semsearch index CORPUS --index {root}`")
    return Snapshot(snapshot)
