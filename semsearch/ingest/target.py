"""The index a build writes, opened under its lock: the writer on the newest commit (or on a fresh one when the
settings or model changed), the embedder, the chunking parameters and the read options."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from semsearch.analysis import ANALYZER
from semsearch.chunking import ChunkParams
from semsearch.embedding import Embedder
from semsearch.embedding.models import ENV_VAR, ModelSpec, canonical_name, resolve_model
from semsearch.errors import SemsearchError
from semsearch.index import store
from semsearch.index.commit import FORMAT_VERSION, Commit, new_commit
from semsearch.reading import DEFAULT_MAX_FILE_SIZE, FieldMap, ReadOptions

# The build's records of what it was given are named tuples, not dataclasses: a one-file update runs in a fresh
# process and pays for defining every class it imports, and a named tuple costs a tenth of a frozen dataclass.


class Target(NamedTuple):
    """What one build writes into and with. `previous`: the commit a build with new settings or model replaces
    (every document is embedded again); `repairs`: the damaged parts the writer dropped when it opened."""

    root: Path
    writer: store.Writer
    embedder: Embedder
    params: ChunkParams
    options: ReadOptions
    model: dict  # the model info recorded in each commit
    repairs: list[str]
    previous: Commit | None
    log: Callable[[str], None]


class Settings(NamedTuple):
    """What a build asks for; None and "auto" take the index's recorded choice (see `open_target`)."""

    model: str | None = None
    params: ChunkParams | None = None
    fields: FieldMap | None = None
    backend: str | dict = "auto"
    device: str = "auto"
    max_file_size: int | None = DEFAULT_MAX_FILE_SIZE  # see `ReadOptions`
    keep: bool = False  # an update through the API: the index's chunking, and never new settings


def open_target(root: Path, asked: Settings, log: Callable[[str], None]) -> Target:
    """Open the writer on the newest commit, or on a fresh one when the settings or model changed (then the old
    commit is `previous`). Call under the index's lock."""
    base, problems = store.writable_commit(root, rebuild=not asked.keep)
    params = asked.params or ChunkParams()
    recorded = base.settings.get("chunking") if base is not None else None
    if asked.keep and recorded:
        params = ChunkParams(**recorded)
    elif asked.params is None and recorded and "sentence_vectors" in recorded:  # kept unless asked otherwise
        params = replace(params, sentence_vectors=recorded["sentence_vectors"])
    fields = asked.fields
    if fields is None:
        fields = FieldMap.from_dict(base.settings.get("fields")) if base is not None else FieldMap()
    backend = asked.backend
    if backend == "auto" and base is not None and base.settings.get("embedding"):
        backend = base.settings["embedding"]  # an update embeds as the index was built
    embedder = Embedder(_pick_model(asked.model, base, log), backend=backend, device=asked.device, log=log)
    log(embedder.describe_path())
    params = replace(params, max_tokens=min(params.max_tokens, embedder.max_seq_length))
    settings = _settings(embedder, params, fields)
    model_info = {**embedder.spec.to_dict(), "fingerprint": embedder.fingerprint, "max_seq_length": embedder.max_seq_length}
    previous = None
    if base is not None and base.settings != settings:
        if asked.keep:  # an add or delete re-embeds nothing it was not given: it would drop every other document
            raise SemsearchError(_mismatch(root, base, settings, model_info))
        log("index settings or model changed: re-embedding every document")
        previous = base
        base = replace(new_commit(settings, model_info), generation=base.generation)  # numbering keeps increasing
    if base is None:
        base = new_commit(settings, model_info)
    writer = store.Writer(root, base)
    repairs = problems + writer.repairs
    for line in repairs:
        log(f"repairing: {line}")
    model = dict(base.model or model_info)
    return Target(root, writer, embedder, params, ReadOptions(fields, asked.max_file_size), model, repairs, previous, log)


def _settings(embedder: Embedder, params: ChunkParams, fields: FieldMap) -> dict:
    """The settings a commit records: an index built under others is embedded again whole."""
    return {
        "format_version": FORMAT_VERSION,
        "model_fingerprint": embedder.fingerprint,
        "prompts": embedder.prompts,
        "chunking": params.to_dict(),
        "analyzer": ANALYZER,
        "fields": fields.to_dict(),
        "embedding": {k: embedder.backend_info[k] for k in ("backend", "quantisation")},
    }


def _pick_model(requested: str | None, previous: Commit | None, log: Callable[[str], None]) -> ModelSpec:
    """The model for this build: explicit, else the one the index already uses, else $SEMSEARCH_MODEL, else the
    default."""
    if previous is not None and previous.model:
        recorded = previous.model
        if requested is None or canonical_name(requested) == recorded["name"]:
            if Path(recorded["path"]).is_dir():
                return ModelSpec(recorded["name"], recorded["variant"], Path(recorded["path"]))
            requested = recorded["name"]  # its files moved: found again by name, never swapped for the default
    return resolve_model(requested or os.environ.get(ENV_VAR) or None, log=log)


def _mismatch(root: Path, base: Commit, settings: dict, model_info: dict) -> str:
    """Why an update cannot embed into this index as it was built, and what to do."""
    differ = sorted(key for key in settings if settings[key] != base.settings.get(key))
    was, now = base.model.get("name", "?"), model_info.get("name", "?")
    what = f"model {now} is not the index's {was}" if was != now else f"the index's {', '.join(differ)} differ"
    if was == now and "model_fingerprint" in differ:
        what = f"the files of model {was} changed since the index was built"
    return (
        f"cannot add to or delete from '{root}' as it was built: {what}. Pass --model {was} (with its files as they"
        f" were), or rebuild the whole index with `semsearch index CORPUS --index {root}`"
    )
