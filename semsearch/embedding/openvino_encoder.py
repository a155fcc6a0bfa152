"""The ONNX export's fp32 graph run in bfloat16 by OpenVINO, on CPUs with native bf16 (AMX or AVX512-BF16).

ONNX Runtime has no bf16 kernels for x86 CPUs; OpenVINO compiles the same graph with bf16 matrix products
(AMX tiles where present) and fp32 normalisation. Measured on a 2-core Xeon with AMX (bench/speed.py):
cosine >= 0.9999 to torch fp32, at 2.3-2.8x ONNX fp32's speed. Compiling e5's graph takes ~0.45 s alone and
~1 s beside a build's other start-up work (so queries and small updates stay on ONNX Runtime fp32, which
computes the same vectors); the compiled graph is cached beside the export, and later builds load it in ~0.15 s.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

import numpy as np

from semsearch import runtimes
from semsearch.embedding.onnx_encoder import OnnxEncoder, normalised
from semsearch.errors import SemsearchError

CACHE_DIR = "openvino-cache"  # in the export folder


def available() -> bool:
    """Whether OpenVINO can be imported here (checked without importing it)."""
    from importlib.util import find_spec

    return find_spec("openvino") is not None


class OpenVinoEncoder(OnnxEncoder):
    """`OnnxEncoder` with the graph compiled by OpenVINO for the CPU, computing in bf16, one stream per core.

    Each stream runs a batch of its own on one core (two requests in flight on two cores): on a 2-core Xeon
    with AMX, 8-11% more chunks/s than one stream spreading each batch over both cores (bench/speed.py).
    """

    # Batches padded to a multiple of 16 tokens: AMX's bf16 tiles are 16 rows deep, and OpenVINO prepares each new
    # input shape on first sight. 250 NorQuAD articles (957 passages), fresh process, model loaded: 123-131
    # passages/s against 107-119 unpadded, and the first pass no slower than later ones (it was ~6% slower);
    # 32 or 64 were slower than 16. Vectors: cosine >= 0.999995 to unpadded (the mask hides the padding).
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
            # The compiled graph, kept beside the export (e5: 83 MB; gone when the export is rebuilt): a build
            # compiles in ~0.15 s instead of ~0.45 s. OpenVINO recompiles and rewrites a blob that is damaged
            # or was compiled by another version or for other settings.
            "CACHE_DIR": str(graph.parent / CACHE_DIR),
        }
        core = openvino.Core()
        self._before_compile()
        self._compiled = core.compile_model(str(graph), "CPU", config)  # releases the GIL while it compiles
        self._requests = [self._compiled.create_infer_request() for _ in range(threads * self.REQUESTS_PER_STREAM)]

    def _infer(self, embeds: np.ndarray, mask: np.ndarray) -> np.ndarray:
        outputs = self._requests[0].infer({"inputs_embeds": embeds, "attention_mask": mask})
        return np.asarray(next(iter(outputs.values())), dtype=np.float32)

    def _run_batches(self, batches, out: np.ndarray, on_batch) -> None:
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
    def _collect(request, rows: np.ndarray, out: np.ndarray, on_batch):
        """Wait for a request, put its normalised vectors at their rows; the request is free again."""
        request.wait()
        out[rows] = normalised(np.array(request.get_output_tensor(0).data, dtype=np.float32))  # a copy: the buffer is reused
        if on_batch is not None:
            on_batch(len(rows))
        return request
