"""The index an evaluation runs on: the labelled corpus alone, or with N distractor documents added, as an
archive holds many articles that answer nothing. Built once into the user cache, keyed by the corpus, the
distractors, their number, the model and the chunking, and reused by later runs.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

from semsearch.chunking import ChunkParams
from semsearch.errors import SemsearchError

DISTRACTOR_NAME = "norec-nb.jsonl.gz"
READY = "eval-index.json"


def default_distractors(corpus: Path) -> Path:
    """Where the NoReC reviews lie beside a NorQuAD corpus in the shared data layout (data/norquad-news/docs
    and data/norec/norec-nb.jsonl.gz)."""
    return corpus.resolve().parent.parent / "norec" / DISTRACTOR_NAME


def read_distractors(path: Path, n: int) -> Iterator[dict]:
    """The first n records (id, title, text) of a JSONL file, gzip-compressed or not."""
    if not path.is_file():
        raise SemsearchError(f"distractor file '{path}' does not exist: pass --distractor-file with a JSONL(.gz) of id, text")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if line_no > n:
                return
            try:
                obj = json.loads(line)
                yield {"id": str(obj["id"]), "title": obj.get("title"), "text": obj["text"]}
            except (ValueError, KeyError, TypeError) as e:
                raise SemsearchError(f"'{path}' line {line_no} is not a record with id and text ({e})") from e


def eval_index_path(corpus: Path, distractors: int, distractor_file: Path | None, model: str | None, params: ChunkParams) -> Path:
    """The cache folder of the evaluation index for these settings."""
    from semsearch.embedding.pypi_model import cache_root
    from semsearch.index.commit import FORMAT_VERSION
    from semsearch.index.segment import file_digest

    key = {"corpus": str(corpus.resolve()), "distractors": distractors, "model": model or "default", "chunking": asdict(params)}
    key["format"] = FORMAT_VERSION  # an index of an older format is not what this semsearch would build
    if distractors:
        # Keyed by the file's bytes, not its path or mtime: a copy of the same data (a fresh checkout, a
        # re-provisioned data folder) reuses the build, and any edit to the records rebuilds it.
        exists = distractor_file is not None and distractor_file.is_file()
        key["file"] = file_digest(distractor_file) if exists else None
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    slug = (model or "default").replace("/", "_")[-40:]
    return cache_root() / "eval" / f"{corpus.resolve().name}-d{distractors}-{slug}-{digest}"


def eval_index(
    corpus: Path,
    distractors: int = 0,
    distractor_file: Path | None = None,
    model: str | None = None,
    params: ChunkParams | None = None,
    log: Callable[[str], None] | None = None,
    **build_options,
) -> Path:
    """The index of `corpus` plus the first `distractors` records of `distractor_file`, built on first use.

    The build is marked ready only once both parts are committed, so an interrupted build resumes (only
    what is missing is embedded) and a ready one is opened as it is. Distractors are added as API records,
    which a corpus build never removes.
    """
    from semsearch.ingest.builder import API_SOURCE, build_index, update_index

    params = params or ChunkParams()
    if distractors < 0:
        raise SemsearchError(f"--distractors must be 0 or more (got {distractors})")
    if distractors:
        distractor_file = distractor_file or default_distractors(corpus)
    index = eval_index_path(corpus, distractors, distractor_file, model, params)
    if (index / READY).is_file():
        return index
    log = log or (lambda _msg: None)
    build_index(corpus, index, model, params=params, log=log, **build_options)
    if distractors:
        from semsearch.ingest.sources import record_docs

        records = list(read_distractors(distractor_file, distractors))
        log(f"adding {len(records)} distractor documents from '{distractor_file}'")
        problems = build_options.get("on_problem")
        update_index(index, lambda options: record_docs(records, options, API_SOURCE), (), model, log=log, on_problem=problems)
    (index / READY).write_text(json.dumps({"corpus": str(corpus), "distractors": distractors}))
    return index
