"""Sentence embeddings from an ONNX export (see `onnx_export`) with ONNX Runtime: no torch.

Texts are tokenized, sorted by token length and cut into batches of similar length (little padding),
their token embeddings gathered from the memory-mapped table, and each batch run through the ONNX
session. Vectors come back L2-normalised, float32, in input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from semsearch import runtimes
from semsearch.embedding import fast_tokenizer
from semsearch.embedding.onnx_export import FILES, WORDS

WINDOW = 4096  # texts tokenized and length-sorted at a time: bounds the padded id arrays in memory
GRAPHS = {"bf16": "fp32"}  # the graph file a runtime reads for a precision it computes in (bf16: the fp32 graph)


class OnnxEncoder:
    """An ONNX Runtime session over one export folder, with its tokenizer and token embedding table."""

    PAD_TO = 1  # batches padded to a multiple of this many tokens (fewer shapes for a runtime that compiles per shape)

    def __init__(
        self,
        folder: Path,
        info: dict,
        quantisation: str = "fp32",
        threads: int = 0,
        fast_tokenizer_load: bool = True,
        whole=None,
        before_compile=None,
    ):
        """Open `folder` (an export, `info` its marker) with the `quantisation` file ("fp32" or "int8"; "bf16" in
        `OpenVinoEncoder`).

        `threads` is ONNX Runtime's intra-op thread count (0: one per physical core). With
        `fast_tokenizer_load`, the lazy form of the tokenizer is used when the export has one (loads in
        milliseconds: for queries); else the full tokenizer (faster per text: for bulk work), on the vocabulary
        of `whole` when given (a `fast_tokenizer.CharsetVocabulary` or the export's tokenizer.json, already
        made, or a function that gives it).

        The graph is opened first, and `before_compile()` is called right before the runtime compiles it: OpenVINO
        compiles without the GIL (~0.5-1 s for e5), so the vocabulary made there (holding the GIL) is made
        meanwhile instead of before or after it.
        """
        self.folder = Path(folder)
        self.quantisation = quantisation
        self._before_compile = before_compile or (lambda: None)
        self._open(self.folder / FILES[GRAPHS.get(quantisation, quantisation)], int(threads))
        lazy = info.get("lazy_tokenizer") if fast_tokenizer_load else None
        self._tokenize = fast_tokenizer.load(self.folder, info["tokenizer"], lazy, whole() if callable(whole) else whole)
        self._words = fast_tokenizer.load_npy(self.folder / WORDS)

    def _open(self, graph: Path, threads: int) -> None:
        ort = runtimes.load("onnxruntime")

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # optimised at export
        self._before_compile()
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])

    def _infer(self, embeds: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"inputs_embeds": embeds, "attention_mask": mask})[0]

    @property
    def dim(self) -> int:
        """Length of the vectors `encode` returns."""
        return int(self._words.shape[1])

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask (int64, [len(texts), longest]), truncated and right-padded."""
        ids, mask = self._tokenize(list(texts))
        return ids.astype(np.int64, copy=False), mask.astype(np.int64, copy=False)

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """L2-normalised vectors of one padded batch of token ids."""
        return normalised(self._infer(self._embeds(ids), mask))

    def _embeds(self, ids: np.ndarray) -> np.ndarray:
        """The graph's input: the token embeddings of a batch of ids, gathered from the memory-mapped table."""
        return np.asarray(self._words[ids], dtype=np.float32)

    def encode(self, texts: Sequence[str], batch_size: int = 32, on_batch=None) -> np.ndarray:
        """Vectors of `texts` (prompts already prepended), in batches of similar token length.

        `on_batch(n)` is called after each batch with the number of texts it held (for progress bars).
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of strings, not a single string")
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        self._run_batches(self.batches(texts, batch_size), out, on_batch)
        return out

    def _run_batches(self, batches, out: np.ndarray, on_batch) -> None:
        """Each batch's vectors into its rows of `out`, one batch after another."""
        for rows, ids, mask in batches:
            out[rows] = self.run(ids, mask)
            if on_batch is not None:
                on_batch(len(rows))

    def batches(self, texts: list[str], batch_size: int):
        """(positions in `texts`, ids, mask) of each padded batch, longest texts first within each window."""
        batch_size = max(1, batch_size)
        for start in range(0, len(texts), WINDOW):
            ids, mask = self.tokenize(texts[start : start + WINDOW])
            lengths = mask.sum(axis=1)
            order = np.argsort(-lengths, kind="stable")
            for b in range(0, len(order), batch_size):
                rows = order[b : b + batch_size]
                longest = min(ids.shape[1], -(-max(1, int(lengths[rows].max())) // self.PAD_TO) * self.PAD_TO)
                yield start + rows, ids[rows, :longest], mask[rows, :longest]


def normalised(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
