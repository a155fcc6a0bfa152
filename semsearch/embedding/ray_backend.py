"""The embedding stage on Ray Data: an actor pool of embedders over batches of passages (`semsearch[ray]`).

The driver keeps everything else (chunking, writing the index); only passage texts travel to the cluster
and only vectors come back, in input order. Every worker needs the model at the same path, or, for the
default model, the PyPI rebuild (each worker makes its own in its user cache when missing).
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Sequence
from urllib.parse import urlparse

import numpy as np

from semsearch.embedding.embedder import Embedder
from semsearch.embedding.models import ModelSpec
from semsearch.errors import SemsearchError

BATCH = 256  # passages per Ray batch: each actor sorts them by length and embeds in its own batches
EXTRA = "pip install 'semsearch[ray]'"


class EmbedActor:
    """A Ray Data actor: loads the model once, then embeds each batch of passage texts it is given."""

    def __init__(self, spec: dict, backend: str | dict, device: str):
        from pathlib import Path

        path = Path(spec["path"])
        if not path.is_dir() and spec["variant"] == "pypi-q4":
            from semsearch.embedding import pypi_model

            path = pypi_model.ensure_rebuilt(progress=False)
        self.embedder = Embedder(ModelSpec(spec["name"], spec["variant"], path), backend=backend, device=device)

    def __call__(self, batch: dict) -> dict:
        """Add a "vector" column to a batch holding "row" and "text" columns."""
        vectors = self.embedder.embed_passages(list(batch["text"]), progress=False)
        return {"row": batch["row"], "vector": vectors}


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise SemsearchError(f"--ray needs Ray Data, which is not installed: {EXTRA}") from None
    return ray


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Raise SemsearchError in one line when nothing listens at a Ray address (ray://host:port or host:port)."""
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    host, port = parsed.hostname, parsed.port or (10001 if parsed.scheme == "ray" else 6379)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except (OSError, ValueError) as e:
        raise SemsearchError(
            f"cannot reach the Ray cluster at '{address}' ({e.strerror or e}): check the address "
            "(ray://HEAD:10001 for Ray Client), or run without --ray"
        ) from None


def connect(address: str | None = None):
    """Connect to the cluster at `address`, or start a local one; the ray module."""
    ray = _import_ray()
    if ray.is_initialized():
        return ray
    if address and address != "auto":
        check_reachable(address)
    try:
        ray.init(
            address=address, ignore_reinit_error=True, log_to_driver=False, include_dashboard=False, logging_level=logging.WARNING
        )
    except Exception as e:  # ray raises ConnectionError, RuntimeError, ... for a cluster it cannot join
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SemsearchError(f"cannot join the Ray cluster at '{address or 'local'}': {first}") from None
    ray.data.DataContext.get_current().enable_progress_bars = sys.stderr.isatty()
    return ray


def embed_with_ray(texts: Sequence[str], embedder: Embedder, address: str | None = None, actors: int | None = None) -> np.ndarray:
    """Vectors of `texts` (passages, without prompts) computed on Ray Data, in input order.

    Args:
        texts: the passages.
        embedder: the driver's embedder: its model, backend and device are what each actor uses.
        address: a Ray cluster address (ray://HEAD:10001, or "auto"); None starts a local cluster.
        actors: actor pool size; default one per GPU on CUDA, else one per node's CPUs / 2 (at least 1).
    """
    ray = connect(address)
    info = embedder.backend_info
    gpu = info["device"] == "cuda"
    if actors is None:
        resources = ray.cluster_resources()
        actors = max(1, int(resources.get("GPU", 0)) if gpu else int(resources.get("CPU", 2)) // 2)
    ds = ray.data.from_items([{"row": i, "text": t} for i, t in enumerate(texts)])
    out = ds.map_batches(
        EmbedActor,
        fn_constructor_kwargs={"spec": embedder.spec.to_dict(), "backend": info, "device": info["device"]},
        batch_size=BATCH,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_gpus=1 if gpu else 0,
        num_cpus=0 if gpu else 2,
    )
    vectors = np.zeros((len(texts), 0), dtype=np.float32)
    for batch in out.iter_batches(batch_size=None, batch_format="numpy"):
        if vectors.shape[1] == 0:
            vectors = np.zeros((len(texts), batch["vector"].shape[1]), dtype=np.float32)
        vectors[batch["row"]] = batch["vector"]
    embedder.last_backend = f"ray-{info['backend']}-{info['quantisation']}"
    return vectors
