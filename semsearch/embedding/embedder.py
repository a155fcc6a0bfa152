"""Embedding with one model: which encoder runs what (bulk passages, small updates, queries), and prompts.

The encoders (`semsearch.embedding.encoders`) run the ONNX export on ONNX Runtime in fp32 or int8, or on OpenVINO in
bf16 where the CPU computes bf16 natively, or the model on torch. The choice is made here; every encoder is opened
through the registry.

Prompts are applied here and only here; vectors are L2-normalised float32 in input order.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semsearch.embedding import devices, encoders
from semsearch.embedding.encoders import Encoder, Setup, normalised
from semsearch.embedding.models import ModelSpec, max_seq_length, model_fingerprint, prompts_for
from semsearch.errors import SemsearchError

if TYPE_CHECKING:
    from semsearch.chunking.counting import TokenCounter

BACKENDS = ("auto", "onnx", "torch")  # what an index records, with a quantisation beside "onnx"
# The names a user asks for: what runs, as recorded (backend, quantisation).
NAMES = {
    "onnx": {"backend": "onnx", "quantisation": "fp32"},
    "onnx-int8": {"backend": "onnx", "quantisation": "int8"},
    "openvino-bf16": {"backend": "onnx", "quantisation": "bf16"},
}
ONNX_ENCODERS = {"fp32": "onnx", "int8": "onnx-int8", "bf16": "openvino-bf16"}  # the export's encoder per precision
DEVICES = ("auto", "cpu", "cuda")
ALIASES = {"sentence-transformers": "torch", "numpy": "torch"}  # names older indexes recorded
SMALL_BATCH = 64  # up to this many passages, a slow-starting bulk encoder's ONNX fp32 twin skips its start-up
# New text past which a build loads the bulk encoder and the whole vocabulary at once, beside reading: for a
# fast-starting encoder, past what SMALL_BATCH passages hold (~600 bytes each), since more goes to the bulk
# encoder anyway; for a slow-starting one (bf16 compiles, torch starts), past ~300 chunks, where that pays.
SMALL_BYTES = 1 << 15
SLOW_BULK_BYTES = 1 << 18
# Passages per batch, per encoder. Measured on 2 Zen 4 cores (bench/speed.py): ONNX int8 is fastest at batch 16 and
# all cores; torch at 32. bf16 on OpenVINO, one batch per core's stream: 4 and 8 within noise, 16 ~8% slower.
BATCH_SIZE = {"onnx": 16, "onnx-int8": 16, "openvino-bf16": 8, "torch": 32}
# What "auto" embeds with on CPU: where the CPU has native bf16 (AMX or AVX512-BF16), the export in bf16 on
# OpenVINO (cosine >= 0.9999 to torch, the same NorQuAD figures); elsewhere ONNX fp32 (torch's vectors). ONNX int8
# misses the bar (NorQuAD validation within 0.5 point of torch in every mode): `--backend onnx-int8` gives it.
AUTO_CPU_QUANTISATION = ("bf16", "fp32")  # the first one this machine can run
BULK_THREADS = 0  # ONNX Runtime: one thread per physical core
QUERY_THREADS = 1  # a short question gains nothing from two threads, and loses much when another process holds a core


@lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def blas_threads(n: int):
    """A context that limits numpy's BLAS to `n` threads."""
    return _controller().limit(limits=n, user_api="blas")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


class Embedder:
    """Embeds passages (for the index) and queries (for search) with one model.

    Args:
        spec: the resolved model.
        backend: "auto" (openvino-bf16 on a CPU with native bf16, else onnx; torch fp16 on CUDA), "onnx" (ONNX
            Runtime fp32), "onnx-int8", "openvino-bf16", "torch", the name of an encoder added with
            `encoders.register` (it then embeds everything), or the `backend_info` an index recorded, so that
            queries and updates are embedded as the index was.
        device: "auto" (CUDA through torch when available), "cpu" or "cuda".
        batch_size: passages per batch; default measured per encoder (`BATCH_SIZE`).
        log: receives one-line notices (an export, a fallback); default stderr.

    Queries always run on CPU through ONNX Runtime (int8 or fp32, as recorded; fp32 for a bf16 or torch index:
    the same vectors), so a query never imports torch or compiles a graph.
    """

    def __init__(
        self,
        spec: ModelSpec,
        backend: str | dict = "auto",
        device: str = "auto",
        batch_size: int | None = None,
        log: Callable[[str], None] | None = None,
    ):
        if isinstance(backend, str) and backend in NAMES:
            _check_asked_for(backend)
            backend = NAMES[backend]
        recorded = backend if isinstance(backend, dict) else {}
        name = ALIASES.get(recorded.get("backend", backend), recorded.get("backend", backend))
        if name not in BACKENDS and not encoders.registered(name):
            raise SemsearchError(f"unknown backend '{name}': use one of auto, {', '.join(NAMES)}, torch")
        if device not in DEVICES:
            raise SemsearchError(f"unknown device '{device}': use one of {', '.join(DEVICES)}")
        self.spec = spec
        self.requested_backend = name
        self.requested_quantisation = recorded.get("quantisation")
        self.requested_device = device
        self._batch_size = batch_size
        self.log = log or _stderr
        self.last_backend: str | None = None
        self.prompts = prompts_for(spec)
        self.max_seq_length = max_seq_length(spec.path)
        self._encoders: dict[tuple[str, bool], Encoder] = {}
        self._encoders_lock = threading.RLock()
        self._warned_bf16 = False
        self._vocabulary_lock = threading.Lock()
        self._vocabulary = None
        self._load_started = threading.Event()  # see wait_for_load_start

    @cached_property
    def fingerprint(self) -> str:
        """Fingerprint of the model folder (see `models.model_fingerprint`)."""
        return model_fingerprint(self.spec.path)

    def with_prompt(self, kind: str, texts: Sequence[str]) -> list[str]:
        """Prefix texts with the model's `query` or `passage` prompt: the one place prompts are applied."""
        prompt = self.prompts.get(kind, "")
        return [prompt + t for t in texts]

    # ------------------------------------------------------------------------------------ choice

    @cached_property
    def device(self) -> str:
        """The device bulk passages are embedded on; SemsearchError for "cuda" without a GPU."""
        return devices.resolve(self.requested_device)

    @cached_property
    def export(self) -> tuple[Path, dict] | None:
        """The verified ONNX export (folder, marker), made on first use; None when the model cannot be exported."""
        from semsearch.embedding import onnx_export

        try:
            folder = onnx_export.ensure_exported(self.spec.path, self.fingerprint, log=self.log)
        except onnx_export.ExportError as e:
            self.log(f"semsearch: ONNX export of {self.spec.name} failed ({e}): falling back to torch")
            return None
        return folder, onnx_export.read_marker(folder)

    @cached_property
    def backend(self) -> str:
        """The bulk backend: "onnx", "torch" (ONNX falls back to torch when the export fails), or a registered one."""
        if self.requested_backend not in BACKENDS:
            return self.requested_backend
        if self.requested_backend == "torch":
            return "torch"
        if self.device == "cuda":
            if self.requested_backend == "onnx":
                raise SemsearchError("the onnx backend runs on CPU only: use --backend torch with --device cuda")
            return "torch"
        return "onnx" if self.export is not None else "torch"

    @property
    def quantisation(self) -> str:
        """What the bulk backend computes in: "int8", "bf16" or "fp32" (ONNX), "fp32" or "fp16" (torch on CUDA)."""
        if self.backend == "torch":
            return "fp16" if self.device == "cuda" else "fp32"
        if self.backend != "onnx":
            return encoders.encoder_class(self.backend).quantisation
        return self._onnx_quantisation()

    def _onnx_quantisation(self) -> str:
        available = {"fp32", self.export[1]["quantisation"]}
        if self.requested_quantisation == "bf16" or self.requested_backend == "auto":
            available.add("bf16")  # recorded, it stays recorded: `_runtime_precision` runs fp32 where bf16 cannot run
        if self.requested_backend == "auto":
            default = next(q for q in AUTO_CPU_QUANTISATION if q != "bf16" or _bf16_runs())
        else:
            default = self.export[1]["quantisation"]
        wanted = self.requested_quantisation or default
        return wanted if wanted in available else "fp32"

    def _runtime_precision(self, quantisation: str) -> str:
        """What actually runs for `quantisation`: bf16 needs a CPU with native bf16 and OpenVINO; without them,
        fp32 computes the same vectors (cosine >= 0.9999), slower, and says so once."""
        if quantisation != "bf16" or _bf16_runs():
            return quantisation
        if not self._warned_bf16:
            self._warned_bf16 = True
            self.log(
                "semsearch: this index embeds in bf16, which this machine cannot run natively (needs AMX or "
                "AVX512-BF16 and OpenVINO): embedding in fp32 instead, the same vectors, slower"
            )
        return "fp32"

    @property
    def backend_info(self) -> dict:
        """What the index manifest records: backend, quantisation, isa and device of the bulk path."""
        from semsearch.embedding.onnx_export import cpu_isa

        if self.backend != "onnx":
            isa = cpu_isa()
        elif self.quantisation == "bf16":
            isa = devices.bf16_isa()
        else:
            isa = self.export[1]["isa"]
        return {"backend": self.backend, "quantisation": self.quantisation, "isa": isa, "device": self.device}

    @property
    def bulk_path(self) -> str:
        """What embeds a build's passages here: "openvino-bf16", "onnx-int8", "onnx" (ONNX Runtime fp32), "torch"
        (fp32 on CPU), "torch-fp16" (CUDA), or a registered encoder's name."""
        if self.backend == "torch" and self.device == "cuda":
            return "torch-fp16"
        return self._bulk_encoder

    @property
    def _bulk_encoder(self) -> str:
        """The name of the encoder that embeds bulk passages (see `encoders`)."""
        if self.backend != "onnx":
            return self.backend
        return ONNX_ENCODERS[self._runtime_precision(self.quantisation)]

    @property
    def _small_encoder(self) -> str:
        """The name of the encoder a handful of passages goes to (see `_small_path`): ONNX Runtime fp32 for torch and
        bf16 (the same vectors, without their start-up), else as in bulk."""
        return "onnx" if self._slow_start else ONNX_ENCODERS[self.quantisation]

    @property
    def _query_encoder(self) -> str:
        """The name of the encoder queries go to: ONNX Runtime, in int8 for an int8 index, else fp32 (the vectors of
        torch and bf16); torch where the model has no export."""
        if self.requested_backend not in BACKENDS:
            return self.requested_backend
        if self.export is None:
            return "torch"
        recorded = "fp32" if self.requested_backend == "torch" else self._onnx_quantisation()
        return ONNX_ENCODERS["int8" if recorded == "int8" else "fp32"]

    def describe_path(self) -> str:
        """One line for a build's log: the bulk path, and the CPU features that chose it."""
        small = f"; up to {SMALL_BATCH} passages at a time: onnx" if self._slow_start and self.export is not None else ""
        return f"embedding path: {self.bulk_path} on {self.device} ({devices.cpu_summary()}){small}"

    @property
    def batch_size(self) -> int:
        """Passages per batch for the bulk encoder."""
        return self._batch_for(self._bulk_encoder)

    def _batch_for(self, name: str) -> int:
        """Passages per batch for the encoder `name`, unless a batch size was given."""
        return self._batch_size or BATCH_SIZE.get(name, BATCH_SIZE["onnx"])

    # ------------------------------------------------------------------------------------ encoders

    def encoder(self, name: str, for_queries: bool = False) -> Encoder:
        """The encoder `name` (see `encoders`), opened once: for queries and small updates (`for_queries`) on one
        thread with the lazy tokenizer, else for bulk work. An export that its runtime cannot load is rebuilt once."""
        key = (name, for_queries)
        encoder = self._encoders.get(key)
        if encoder is not None:
            return encoder
        with self._encoders_lock:  # a build's loader and embedding threads may both ask first: one opens it
            if key not in self._encoders:
                self._encoders[key] = self._open(name, for_queries)
            return self._encoders[key]

    def _open(self, name: str, for_queries: bool) -> Encoder:
        cls = encoders.encoder_class(name)
        try:
            return cls(self._setup(cls, for_queries))
        except SemsearchError:
            raise
        except Exception as e:  # onnxruntime and OpenVINO raise their own exception types for an unreadable model
            if not cls.needs_export:
                raise
            self._rebuild_export(e)
            return cls(self._setup(cls, for_queries, shared=False))

    def _setup(self, cls: type[Encoder], for_queries: bool, shared: bool = True) -> Setup:
        """What the encoder `cls` opens with; bulk work shares the chunker's vocabulary unless not `shared`."""
        folder, marker = self.export if cls.needs_export else (None, {})
        bulk = not for_queries and shared
        return Setup(
            self.spec.path, folder, marker, self.device, QUERY_THREADS if for_queries else BULK_THREADS, self.max_seq_length,
            vocabulary=self.bulk_vocabulary if bulk else None, before_compile=self.start_bulk_vocabulary if bulk else _no_op,
        )  # fmt: skip

    def _rebuild_export(self, error: Exception) -> None:
        from semsearch.embedding import onnx_export

        folder = self.export[0]
        self.log(f"semsearch: the ONNX export in {folder} does not load ({type(error).__name__}): rebuilding it")
        folder = onnx_export.ensure_exported(self.spec.path, self.fingerprint, rebuild=True, log=self.log)
        self.export = (folder, onnx_export.read_marker(folder))

    @property
    def model(self):
        """The sentence-transformers model, loaded on first use (imports torch); fp16 on CUDA."""
        return self.encoder("torch").model

    def bulk_vocabulary(self) -> Any:
        """The tokenizer vocabulary that the chunker's token counter and the bulk encoder share, made once for this
        embedder (None without an export). Where the export holds the lazy Unigram form (e5), a
        `tokenizer.CharsetVocabulary`: the pieces made of the characters met so far. Otherwise the export's
        tokenizer.json, parsed."""
        if self.export is None:
            return None
        from semsearch.embedding import tokenizer

        with self._vocabulary_lock:
            if self._vocabulary is None:
                folder, marker = self.export
                if marker.get("lazy_tokenizer"):
                    vocabulary = tokenizer.CharsetVocabulary(folder, marker["lazy_tokenizer"])
                    vocabulary.covering(frozenset())  # the base characters' model, built now
                    self._vocabulary = vocabulary
                else:
                    self._vocabulary = tokenizer.open_tokenizer(folder / tokenizer.TOKENIZER_JSON)
            return self._vocabulary

    def start_bulk_vocabulary(self) -> None:
        """Called by the bulk encoder right before its runtime compiles the graph (without the GIL): let callers of
        `wait_for_load_start` go on, and make the bulk vocabulary meanwhile (once) in a thread of its own."""
        if not self._load_started.is_set():
            self._load_started.set()
            threading.Thread(target=self._make_vocabulary_ahead, name="semsearch-tokenizer", daemon=True).start()

    def _make_vocabulary_ahead(self) -> None:
        """`bulk_vocabulary` in the tokenizer thread. A failure here is left to the thread that needs the vocabulary:
        its own call makes it again and raises there, where the build sees it (a daemon's error would be lost)."""
        try:
            self.bulk_vocabulary()
        except Exception:  # noqa: BLE001 - raised again by the caller's own bulk_vocabulary()
            pass

    def wait_for_load_start(self) -> None:
        """Block until the bulk encoder being loaded in another thread (`load_bulk`) has imported its runtime and
        started compiling its graph, or has ended. A build chunks only from then on: the import holds the GIL
        (OpenVINO's: ~0.15 s), and chunking beside it put off the model's first batch by ~0.4 s on two cores,
        while the compilation leaves the GIL to the chunker."""
        self._load_started.wait()

    def token_counter(self, bulk: bool = False) -> TokenCounter:
        """The fastest exact token counter for the chunker (a `tokenizer.TokenizerCounter` where the model has a
        tokenizer.json, else `count_tokens`). With the ONNX export on the bulk path: the bulk encoder's own
        vocabulary when `bulk` says much text is to come, else the lazy form, which cuts each new word in
        milliseconds (a small update builds no vocabulary). A build counts only once the bulk encoder's load compiles
        (`wait_for_load_start`): the shared vocabulary is then made beside the compilation."""
        from semsearch.embedding.tokenizer import SHELL_JSON, TOKENIZER_JSON, TokenizerCounter

        export = self.export if self.backend == "onnx" else None
        if export is None:
            path = self.spec.path / TOKENIZER_JSON
            return TokenizerCounter(path) if path.is_file() else self.count_tokens
        folder, lazy = export[0], export[1].get("lazy_tokenizer")
        if bulk:  # the bulk encoder's vocabulary, made once for both
            return TokenizerCounter(folder / (SHELL_JSON if lazy else TOKENIZER_JSON), vocabulary=self.bulk_vocabulary)
        if lazy:
            return TokenizerCounter(folder / SHELL_JSON, lazy=lazy, vocabulary=self.bulk_vocabulary)
        return TokenizerCounter(folder / TOKENIZER_JSON)

    @cached_property
    def _tokenizer(self):
        from semsearch.embedding.tokenizer import TOKENIZER_JSON, open_tokenizer

        path = self.spec.path / TOKENIZER_JSON
        return open_tokenizer(path) if path.is_file() else None

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text as the model sees it, special tokens included, before truncation."""
        if self._tokenizer is not None:
            return [len(e.ids) for e in self._tokenizer.encode_batch(list(texts))]
        return [len(ids) for ids in self.model.tokenizer(list(texts), add_special_tokens=True)["input_ids"]]

    # ------------------------------------------------------------------------------------ embedding

    def load_bulk(self, large: bool = False) -> None:
        """Open the encoder `embed_passages` will run on, ahead of the first batch (a build does it while it reads
        and chunks): the bulk encoder when `large` says much is to come, else the small-update form (the query
        encoder's lazy tokenizer; fp32 for torch and bf16), so a small update builds no vocabulary, imports no
        torch and compiles nothing. Torch's bulk encoder is loaded when a part large enough needs it.
        Callers of `wait_for_load_start` go on once the bulk encoder starts compiling, or when this returns or
        fails."""
        try:
            if large and self.backend != "torch":
                self.encoder(self._bulk_encoder)
            elif self._small_path:
                self.encoder(self._small_encoder, for_queries=True)
        finally:
            self._load_started.set()

    @property
    def _small_path(self) -> bool:
        """Whether a handful of passages can skip the bulk encoder's start-up (its vocabulary, threads, compilation)
        and go through the query encoder's form: ONNX Runtime on the CPU, with the lazy tokenizer."""
        return self.device == "cpu" and self.backend in BACKENDS and self.export is not None

    @property
    def bulk_bytes(self) -> int:
        """New text (bytes) past which a build should `load_bulk(large=True)` (see SMALL_BYTES)."""
        return SLOW_BULK_BYTES if self._slow_start else SMALL_BYTES

    @property
    def _slow_start(self) -> bool:
        """Whether the bulk path takes seconds to start (torch on CPU, or bf16), so small work goes to ONNX fp32."""
        return self.device == "cpu" and (self.backend == "torch" or (self.backend == "onnx" and self.quantisation == "bf16"))

    def embed_passages(self, texts: Sequence[str], progress: bool | None = None, bulk: bool = False) -> np.ndarray:
        """L2-normalised float32 vectors for passages, in input order, in batches of similar token length.

        A progress bar shows on a terminal (or when `progress`). A handful of passages (an incremental update,
        unless `bulk` says they are part of a larger build) goes through the query encoder's form on the CPU: no
        bulk vocabulary, and for torch and bf16 ONNX Runtime fp32, the same vectors (cosine >= 0.9999, checked at
        export) without seconds of torch start-up or graph compilation. `last_backend` says what ran.
        """
        prompted = self.with_prompt("passage", texts)
        show = sys.stderr.isatty() if progress is None else progress
        small = not bulk and len(texts) <= SMALL_BATCH and self._small_path
        name = self._small_encoder if small else self._bulk_encoder
        encoder = self.encoder(name, for_queries=small)
        self.last_backend = encoder.label
        with _progress_bar(len(texts), show) as bar:
            return normalised(encoder.encode(prompted, batch_size=self._batch_for(name), on_batch=bar.update))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors for questions, on CPU through ONNX Runtime (torch only if the export fails).

        An index built with torch or in bf16 is queried with the fp32 export (the same vectors); one built with
        ONNX int8, with int8.
        """
        prompted = self.with_prompt("query", texts)
        name = self._query_encoder
        return normalised(self.encoder(name, for_queries=name != "torch").encode(prompted))

    def prepare_query_encoder(self) -> bool:
        """Make the ONNX export that queries run on now (done at index time); True when queries will run on it."""
        return self.requested_backend in BACKENDS and self.export is not None


def _no_op() -> None:
    return None


def recorded_path(info: dict) -> str:
    """What embeds an update of an index that recorded `info` (its backend_info), on this machine, without loading
    anything: "openvino-bf16", "onnx-int8", "onnx", "torch" or "torch-fp16"; a bf16 index on a CPU without native
    bf16 says that it runs in fp32."""
    backend, quantisation = info.get("backend", "torch"), info.get("quantisation", "fp32")
    backend = ALIASES.get(backend, backend)
    if backend == "torch":
        return "torch-fp16" if info.get("device") == "cuda" else "torch"
    if backend != "onnx":
        return backend
    if quantisation == "bf16" and not _bf16_runs():
        return "onnx (bf16 recorded; this CPU has no native bf16: fp32, same vectors)"
    return ONNX_ENCODERS.get(quantisation, "onnx")


def _check_asked_for(name: str) -> None:
    """SemsearchError for a backend this machine cannot run as asked (a recorded one falls back instead)."""
    from semsearch.embedding.onnx_export import cpu_isa

    if name == "onnx-int8" and cpu_isa() == "none":
        raise SemsearchError(
            f"--backend onnx-int8 needs a CPU with AVX2 or better, and this machine ({devices.cpu_summary()}) has not:"
            " use --backend onnx"
        )
    if name == "openvino-bf16" and not _bf16_runs():
        raise SemsearchError(
            "--backend openvino-bf16 needs a CPU with AMX or AVX512-BF16 and OpenVINO, and this machine "
            f"({devices.cpu_summary()}) has not: use --backend onnx (the same vectors in fp32)"
        )


def _bf16_runs() -> bool:
    """Whether bf16 runs natively here: a CPU with AMX or AVX512-BF16, and OpenVINO installed."""
    from semsearch.embedding.encoders import openvino

    return devices.bf16_isa() != "none" and openvino.available()


class _NoBar:
    """The progress bar where none shows: tqdm is not even imported (~15-30 ms of every small update)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, n: int = 1) -> None:
        return None


def _progress_bar(total: int, show: bool):
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="chunk", desc="embedding", file=sys.stderr)
