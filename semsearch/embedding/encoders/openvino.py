"""The ONNX export's fp32 graph run in bfloat16 by OpenVINO, on CPUs with native bf16 (AMX or AVX512-BF16).

ONNX Runtime has no bf16 kernels for x86 CPUs; OpenVINO compiles the same graph with bf16 matrix products
(AMX tiles where present) and fp32 normalisation: cosine >= 0.9999 to torch fp32. Compiling takes seconds beside a
build's other start-up work, so queries and small updates stay on ONNX Runtime fp32, which computes the same
vectors; the compiled graph is cached beside the export.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from pathlib import Path

import numpy as np

from semsearch import runtimes
from semsearch.embedding.encoders.base import OnBatch, normalised
from semsearch.embedding.encoders.onnx import OnnxEncoder
from semsearch.errors import SemsearchError

CACHE_DIR = "openvino-cache"  # in the export folder
# One compilation at a time in a process: OpenVINO switches the C locale to "C" while it compiles and then restores
# the one it found, so two compilations at once (two builds in two threads) can leave the whole process in "C",
# where Python's default text encoding is ASCII.
_COMPILING = threading.Lock()


def available() -> bool:
    """Whether OpenVINO can be imported here (checked without importing it)."""
    from importlib.util import find_spec

    return find_spec("openvino") is not None


class OpenVinoEncoder(OnnxEncoder):
    """`OnnxEncoder` with the fp32 graph compiled by OpenVINO for the CPU, computing in bf16, one stream per core.

    Each stream runs a batch of its own on one core (two requests in flight on two cores): on a 2-core Xeon
    with AMX, 8-11% more chunks/s than one stream spreading each batch over both cores (bench/speed.py).
    """

    quantisation = "bf16"
    GRAPH = "fp32"
    # Batches padded to a multiple of 16 tokens: AMX's bf16 tiles are 16 rows deep, and OpenVINO prepares each new
    # input shape on first sight; 32 or 64 were slower than 16. The mask hides the padding (cosine >= 0.999995).
    PAD_TO = 16
    # Requests in flight per stream: a second one queued behind each running batch lets a stream go on when the
    # Python thread that feeds them waits for the GIL (a build's chunking thread holds it), instead of idling.
    REQUESTS_PER_STREAM = 2

    def _open(self, graph: Path, threads: int) -> None:
        try:
            openvino = runtimes.load("openvino")
        except ImportError as e:
            raise SemsearchError("bf16 embedding needs OpenVINO: pip install openvino (a dependency of semsearch)") from e
        # 0: every CPU this process may use (its affinity mask); the count is always given, never left to
        # OpenVINO's own default.
        threads = threads or len(os.sched_getaffinity(0))
        config = {
            "INFERENCE_PRECISION_HINT": "bf16",
            "PERFORMANCE_HINT": "THROUGHPUT",
            "NUM_STREAMS": threads,
            "INFERENCE_NUM_THREADS": threads,
            # The compiled graph, kept beside the export (gone when the export is rebuilt). OpenVINO recompiles and
            # rewrites a blob that is damaged or was compiled by another version or for other settings.
            "CACHE_DIR": str(graph.parent / CACHE_DIR),
        }
        core = openvino.Core()
        self.setup.before_compile()
        with _COMPILING:
            self._compiled = core.compile_model(str(graph), "CPU", config)  # releases the GIL while it compiles
        self._requests = [self._compiled.create_infer_request() for _ in range(threads * self.REQUESTS_PER_STREAM)]

    def _infer(self, embeds: np.ndarray, mask: np.ndarray) -> np.ndarray:
        outputs = self._requests[0].infer({"inputs_embeds": embeds, "attention_mask": mask})
        return np.asarray(next(iter(outputs.values())), dtype=np.float32)

    def _run_batches(self, batches, out: np.ndarray, on_batch: OnBatch | None) -> None:
        """Each batch's vectors into its rows of `out`, one batch in flight per stream."""
        free, running = list(self._requests), deque()
        for rows, ids, mask in batches:
            if not free:
                free.append(self._collect(*running.popleft(), out, on_batch))
            request = free.pop()
            request.start_async({"inputs_embeds": self._embeds(ids), "attention_mask": mask})
            running.append((request, rows))
        while running:
            self._collect(*running.popleft(), out, on_batch)

    @staticmethod
    def _collect(request, rows: np.ndarray, out: np.ndarray, on_batch: OnBatch | None):
        """Wait for a request, put its normalised vectors at their rows; the request is free again."""
        request.wait()
        out[rows] = normalised(request.get_output_tensor(0).data)  # a copy: the buffer is reused
        if on_batch is not None:
            on_batch(len(rows))
        return request
