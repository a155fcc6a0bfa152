"""The ONNX export (see `onnx_export`) on ONNX Runtime, in fp32 or int8: no torch.

Texts are tokenized, sorted by token length and cut into batches of similar length (little padding), their token
embeddings gathered from the memory-mapped table, and each batch run through the session.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from semsearch import runtimes
from semsearch.embedding import tokenizer
from semsearch.embedding.encoders.base import Encoder, OnBatch, Setup, normalised
from semsearch.embedding.onnx_export import FILES, WORDS

WINDOW = 4096  # texts tokenized and length-sorted at a time: bounds the padded id arrays in memory


class OnnxEncoder(Encoder):
    """An ONNX Runtime session over the export's fp32 graph, with its tokenizer and token embedding table.

    The graph is opened first, and `setup.before_compile()` called right before the runtime compiles it; then the
    tokenizer is made: on `setup.vocabulary()` for bulk work (the vocabulary the chunker's counter shares), else
    the export's lazy form (milliseconds: for queries and small updates).
    """

    backend = "onnx"
    needs_export = True
    quantisation = "fp32"
    GRAPH = "fp32"  # which of the export's graphs (`onnx_export.FILES`) it runs
    PAD_TO = 1  # batches padded to a multiple of this many tokens (fewer shapes for a runtime that compiles per shape)

    def __init__(self, setup: Setup) -> None:
        super().__init__(setup)
        folder = Path(setup.export)
        self._open(folder / FILES[self.GRAPH], setup.threads)
        vocabulary = setup.vocabulary() if setup.vocabulary is not None else None
        self._tokenize = tokenizer.for_encoder(folder, setup.marker, vocabulary)
        self._words = np.load(folder / WORDS, mmap_mode="r")

    def _open(self, graph: Path, threads: int) -> None:
        ort = runtimes.load("onnxruntime")

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # optimised at export
        self.setup.before_compile()
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
        return ids, mask.astype(np.int64, copy=False)

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """L2-normalised vectors of one padded batch of token ids."""
        return normalised(self._infer(self._embeds(ids), mask))

    def _embeds(self, ids: np.ndarray) -> np.ndarray:
        """The graph's input: the token embeddings of a batch of ids, gathered from the memory-mapped table."""
        return np.asarray(self._words[ids], dtype=np.float32)

    def encode(self, texts: Sequence[str], batch_size: int = 32, on_batch: OnBatch | None = None) -> np.ndarray:
        """Vectors of `texts` (prompts already prepended), in batches of similar token length."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of strings, not a single string")
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        self._run_batches(self.batches(texts, batch_size), out, on_batch)
        return out

    def _run_batches(self, batches, out: np.ndarray, on_batch: OnBatch | None) -> None:
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


class OnnxInt8Encoder(OnnxEncoder):
    """`OnnxEncoder` on the export's int8 graph (ONNX Runtime's dynamic quantisation: see `onnx_export.quantise`)."""

    quantisation = "int8"
    GRAPH = "int8"
