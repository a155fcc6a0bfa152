"""A tokenizer.json tokenizer that loads in milliseconds: XLM-R's 250k-piece Unigram model takes
``tokenizers`` ~0.6 s to build, which alone would break the cold-query budget.

:func:`write` stores a "lazy" form of a Unigram tokenizer beside a copy of ``tokenizer.json`` (checked
at write time to tokenize exactly like it, on :data:`_SELF_CHECK_TEXTS`); :func:`load` opens the lazy
form when present, else the full tokenizer; given a :class:`CharsetVocabulary` (bulk work: a build's
chunker and encoder share one), the shell on a model of the pieces made of the characters met so far. All
return a callable ``texts -> (ids, mask)`` (int64, right-padded, truncated to the model's ``max_seq_length``).
"""

from __future__ import annotations

import json
import math
import mmap
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from semsearch import runtimes

TOKENIZER_JSON = "tokenizer.json"


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


_NPY_HEADER = re.compile(
    r"\{'descr': '(?P<descr>[<>|][a-zA-Z]\d+)', 'fortran_order': False, 'shape': \((?P<shape>[\d, ]*)\), \}\s*$"
)


def load_npy(path: Path) -> np.ndarray:
    """``np.load(path, mmap_mode="r")`` (a read-only memory map), minus its ~0.2 ms of overhead."""
    with open(path, "rb") as f:
        head = f.read(512)
        match = None
        if head[:6] == b"\x93NUMPY" and head[6] in (1, 2, 3):
            size = 2 if head[6] == 1 else 4
            start = 8 + size
            end = start + int.from_bytes(head[8:start], "little")
            match = _NPY_HEADER.match(head[start:end].decode("latin1")) if end <= len(head) else None
        if match is not None:
            shape = tuple(int(d) for d in match["shape"].replace(" ", "").split(",") if d)
            dtype = np.dtype(match["descr"])
            count = math.prod(shape)
            if count and dtype.itemsize:
                buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                return np.frombuffer(buf, dtype=dtype, count=count, offset=end).reshape(shape)
    return np.load(path, mmap_mode="r")


SHELL_JSON = "tokenizer_shell.json"
_PIECES_NPY = "unigram_pieces.npy"  # the vocabulary pieces, sorted, fixed-width unicode
_PIECE_IDS_NPY = "unigram_piece_ids.npy"  # vocabulary id of each sorted piece
_SCORES_NPY = "unigram_scores.npy"  # score of each vocabulary id

# Texts the lazy Unigram tokenizer is checked against the real one on, at export time.
_SELF_CHECK_TEXTS = [
    "query: Hva sa Lavrov om angrepet i Syria?",
    "passage: Møtet fant sted på sidelinjen av G7-møtet i Lucca. ÆØÅ æøå",
    "What did Lavrov say about the attack in Syria?",
    "",
    "   ",
    "  to  mellomrom\tog\nlinjeskift  ",
    "emoji 😀😀 ☃ 🇳🇴 ﬁnn Ⅻ ｆｕｌｌｗｉｄｔｈ",
    "日本語のテキスト、中文文本, العربية, русский текст, ελληνικά",
    "a<s>b </s> <mask> <pad> <unk>x",
    "https://example.com/a_very_long_url_without_any_spaces_at_all_1234567890?q=x&y=z",
    "Supercalifragilisticexpialidocious" * 20,
]


def _load_tokenizer(path: Path, meta: dict[str, Any]) -> Any:
    """The tokenizer in ``path``, set up as the model needs: truncation to max_seq_length, right
    padding, and lower-casing if the model asks for it."""
    tok = runtimes.load("tokenizers").Tokenizer.from_file(str(path))
    if meta.get("do_lower_case"):
        normalizers = runtimes.load("tokenizers.normalizers")
        steps = [normalizers.Lowercase()]
        if tok.normalizer is not None:
            steps.append(tok.normalizer)
        tok.normalizer = normalizers.Sequence(steps)
    tok.no_truncation()
    tok.enable_truncation(max_length=int(meta["max_seq_length"]))
    pad_token = meta.get("pad_token")
    pad_id = tok.token_to_id(pad_token) if pad_token else None
    if pad_id is None:
        pad_id = meta.get("pad_token_id")
        pad_id = int(pad_id) if isinstance(pad_id, int) else 0
        pad_token = tok.id_to_token(pad_id) or "[PAD]"
    tok.enable_padding(direction="right", pad_id=pad_id, pad_token=pad_token)
    return tok


def _encode(tok: Any, texts: list[str]) -> list[Any]:
    """``tok.encode_batch(texts)``, with a single text encoded directly."""
    return [tok.encode(texts[0])] if len(texts) == 1 else tok.encode_batch(texts)


def _to_arrays(encodings: list[Any], ids: list[list[int]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    if ids is None:
        ids = [e.ids for e in encodings]
    return np.asarray(ids, dtype=np.int64), np.asarray([e.attention_mask for e in encodings], dtype=bool)


class _FullTokenizer:
    """The tokenizer.json tokenizer as it is."""

    def __init__(self, tok: Any):
        self.tok = tok

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return _to_arrays(_encode(self.tok, texts))


class UnigramPieces:
    """The vocabulary of a lazy Unigram export (memory-mapped), and Unigram models of just the pieces that
    some words can be cut into: each segments those words exactly as the whole vocabulary does."""

    def __init__(self, export_dir: Path, info: dict[str, Any]):
        self._pieces = load_npy(export_dir / _PIECES_NPY)
        self._piece_ids = load_npy(export_dir / _PIECE_IDS_NPY)
        self._scores = load_npy(export_dir / _SCORES_NPY)
        self._max_chars = int(info["max_piece_chars"])
        self._unk_id = int(info["unk_id"])
        self._always = {int(k): v for k, v in info["always_pieces"].items()}  # id -> piece

    def model_for(self, words: Iterable[str]) -> tuple[Any, dict[str, int]]:
        """A Unigram model holding the vocabulary pieces that are substrings of `words` (and the unknown
        and lowest-scoring pieces), and those pieces' vocabulary ids."""
        Unigram = runtimes.load("tokenizers.models").Unigram
        longest = self._max_chars
        subs: set[str] = set()
        for w in words:
            n = len(w)
            for i in range(n):
                subs.update(w[i:j] for j in range(i + 1, min(n, i + longest) + 1))
        found: dict[str, int] = {}
        if subs:
            query = np.array(sorted(subs))
            pos = np.searchsorted(self._pieces, query)
            pos[pos >= len(self._pieces)] = 0
            hit = self._pieces[pos] == query
            found = dict(zip(query[hit].tolist(), self._piece_ids[pos[hit]].tolist(), strict=True))
        by_id = {**self._always, **{i: p for p, i in found.items()}}
        order = sorted(by_id)
        vocab = [(by_id[i], float(self._scores[i])) for i in order]
        return Unigram(vocab, order.index(self._unk_id), False), found

    def model_for_chars(self, chars: Iterable[str] | None) -> tuple[Any, dict[str, int]]:
        """A Unigram model holding the vocabulary pieces made only of `chars` (every piece for None; and the unknown
        and lowest-scoring pieces), and those pieces' vocabulary ids: any word made of `chars` segments as with the
        whole vocabulary."""
        Unigram = runtimes.load("tokenizers.models").Unigram
        take = np.zeros(len(self._scores), dtype=bool)
        if chars is None:
            take[:] = True
        else:
            allowed = np.zeros(0x110000, dtype=bool)
            allowed[0] = True  # the padding of the fixed-width piece array
            allowed[[ord(c) for c in chars]] = True
            codes = self._pieces.view(np.uint32).reshape(len(self._pieces), -1)
            take[self._piece_ids[allowed[codes].all(axis=1)]] = True
        take[list(self._always)] = True
        ids = np.flatnonzero(take)
        position = np.empty(len(self._piece_ids), dtype=np.int64)
        position[self._piece_ids] = np.arange(len(self._piece_ids))
        pieces = self._pieces[position[ids]].tolist()
        vocab = list(zip(pieces, self._scores[ids].tolist(), strict=True))
        found = dict(zip(pieces, ids.tolist(), strict=True))
        return Unigram(vocab, int(np.searchsorted(ids, self._unk_id)), False), found


# A charset vocabulary grows by blocks of 128 code points (the characters of a script come together). It starts with
# what Norwegian or English news holds besides Latin-1: Latin Extended-A and -B and the combining accents (names such
# as Łukasz, Şahin, Dvořák), punctuation, currency, arrows, symbols and dingbats (U+2581 "▁", the word-start mark
# that SentencePiece puts on every word, among them), variation selectors and the emoji: e5 holds ~112k pieces
# made of those, built in ~0.2 s. With Latin-1 and general punctuation alone (26k pieces), a build made that model
# ahead, a second one at its first word (for "▁"'s block), and another at each such block (~0.15-0.2 s each,
# holding the GIL): 3 builds for 250 NorQuAD articles and 4 for all 403, against 1 now (vocabulary and chunking
# CPU 0.88 -> 0.64 s and 1.28 -> 0.85 s).
BLOCK = 128
# Builds before a charset vocabulary takes every piece: text of many scripts (CJK alone spans ~160 blocks) would
# otherwise rebuild it at each new block. All 42k NoReC reviews (Norwegian, some emoji) grow it 18 times.
MAX_BUILDS = 24
_BASE_RANGES = ((0x0, 0x24F), (0x300, 0x36F), (0x2000, 0x27BF), (0xFE00, 0xFE0F), (0x1F000, 0x1FAFF))
BASE_CHARS = frozenset(chr(c) for lo, hi in _BASE_RANGES for c in range(lo, hi + 1))


def _blocks(chars: Iterable[str]) -> set[str]:
    """Every character of the 128-code-point blocks that `chars` fall in."""
    starts = {ord(c) // BLOCK * BLOCK for c in chars}
    return {chr(c) for s in starts for c in range(s, s + BLOCK) if not 0xD800 <= c < 0xE000}


class CharsetVocabulary:
    """A Unigram model of the vocabulary pieces made only of the characters seen so far, for bulk work: shared by
    the chunker's counter and the bulk encoder, grown (rebuilt) when text brings new characters; thread-safe.

    The segmentation of a word only involves vocabulary pieces that are substrings of it, so a word made of
    covered characters is cut exactly as by the whole vocabulary. For e5 (XLM-R's 250k pieces, whose whole model
    takes 0.6-1 s to build, holding the GIL), Norwegian or English news needs ~112k pieces, built in ~0.2 s.
    """

    def __init__(self, export_dir: Path, info: dict[str, Any]):
        self.info = info
        self.pieces = UnigramPieces(Path(export_dir), info)
        self._lock = threading.Lock()
        self._state: tuple[frozenset[str] | None, Any, dict[str, int]] = (frozenset(), None, {})  # None: every character
        self.builds = 0

    def covering(self, chars: set[str] | frozenset[str]) -> tuple[Any, dict[str, int]]:
        """The current model and its pieces' vocabulary ids, rebuilt first if `chars` are not all covered."""
        covered, model, found = self._state
        if model is not None and (covered is None or chars <= covered):
            return model, found
        with self._lock:
            covered = self._state[0]
            if self._state[1] is None or not (covered is None or chars <= covered):
                covered = None if self.builds + 1 >= MAX_BUILDS else covered | _blocks(chars - covered) | BASE_CHARS
                self._state = (covered, *self.pieces.model_for_chars(covered))  # covered None: every piece
                self.builds += 1
            return self._state[1], self._state[2]


class _LazyUnigramTokenizer:
    """Exactly the tokenizer.json Unigram tokenizer, without building its whole vocabulary.

    ``tokenizers`` needs ~0.6 s to build XLM-R's 250k-piece Unigram model. But the segmentation of
    a word only involves vocabulary pieces that are substrings of it. So each call finds those pieces
    (binary search in a sorted, memory-mapped piece array), puts a Unigram model of just them into
    a tokenizer that is otherwise the original (normalizer, pre-tokenizer, special tokens,
    post-processor, truncation, padding), and maps the resulting token strings back to vocabulary
    ids. The lowest-scoring piece is always included, since the unknown-token penalty derives from
    it. ``export`` checks the result against the real tokenizer before enabling this.
    """

    def __init__(self, shell: Any, pieces: UnigramPieces, info: dict[str, Any]):
        self._lock = threading.Lock()
        self.tok = shell
        self.vocab = pieces
        self._unk_id = int(info["unk_id"])
        self._fixed = {str(k): int(v) for k, v in info["token_ids"].items()}  # special token -> id
        pad = shell.padding
        if pad and pad.get("pad_token") is not None and pad["pad_token"] not in self._fixed:
            self._fixed[pad["pad_token"]] = int(pad["pad_id"])
        contents = sorted({t.content for t in shell.get_added_tokens_decoder().values()}, key=len, reverse=True)
        self._split = re.compile("|".join(re.escape(c) for c in contents)) if contents else None

    def _segments(self, text: str) -> set[str]:
        """``text``, and its parts between added tokens with and without their surrounding spaces."""
        segments = {text}
        if self._split is not None:
            for part in self._split.split(text):
                segments.update((part, part.strip(), part.lstrip(), part.rstrip()))
        return segments

    def _words(self, text: str) -> set[str]:
        """A superset of the pre-tokenized words the tokenizer's model sees for ``text``."""
        normalizer, pre = self.tok.normalizer, self.tok.pre_tokenizer
        normalized: set[str] = set()
        for seg in self._segments(text):
            # split again: added tokens may match only the normalized text
            normalized |= self._segments(normalizer.normalize_str(seg) if normalizer is not None else seg)
        if pre is None:
            return normalized
        return {w for norm in normalized for w, _ in pre.pre_tokenize_str(norm)}

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:  # the model is swapped per call
            return self._tokenize(texts)

    def _model_for(self, texts: list[str]) -> tuple[Any, dict[str, int]]:
        """A Unigram model that cuts the words of `texts` as the whole vocabulary does, and its pieces' ids."""
        return self.vocab.model_for(w for text in texts for w in self._words(text))

    def _tokenize(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        self.tok.model, found = self._model_for(texts)
        encs = _encode(self.tok, texts)
        fixed, unk = self._fixed, self._unk_id
        ids = [[fixed[t] if t in fixed else found.get(t, unk) for t in e.tokens] for e in encs]
        return _to_arrays(encs, ids)


class CharsetUnigramTokenizer(_LazyUnigramTokenizer):
    """Exactly the tokenizer.json Unigram tokenizer, on a `CharsetVocabulary` covering the characters of the
    texts' words (the normalised text, plus what the pre-tokenizer adds, such as Metaspace's "▁"): for bulk
    work, where a model per call would be rebuilt for every batch."""

    def __init__(self, shell: Any, vocabulary: CharsetVocabulary):
        super().__init__(shell, vocabulary.pieces, vocabulary.info)
        self.vocabulary = vocabulary
        pre = shell.pre_tokenizer
        probe = "a b"
        self._pre_chars = set("".join(w for w, _ in pre.pre_tokenize_str(probe))) - set(probe) if pre is not None else set()

    def chars(self, text: str) -> set[str]:
        """Every character of the words the tokenizer's model sees for `text` (a superset)."""
        normalizer = self.tok.normalizer
        if self._split is None or not self._split.search(text):
            found = set(normalizer.normalize_str(text) if normalizer is not None else text)
        else:  # normalised part by part between added tokens, as in `_words`
            found = set().union(*(normalizer.normalize_str(s) if normalizer is not None else s for s in self._segments(text)))
        return found | self._pre_chars

    def _model_for(self, texts: list[str]) -> tuple[Any, dict[str, int]]:
        return self.vocabulary.covering(set().union(*map(self.chars, texts)) if texts else set())


def _special_token_ids(spec: dict[str, Any]) -> dict[str, int] | None:
    """content -> id of the added tokens and the post-processor's special tokens; None if unknown."""
    ids = {t["content"]: int(t["id"]) for t in spec.get("added_tokens") or []}
    post = spec.get("post_processor")
    stack = [post] if post else []
    while stack:
        p = stack.pop()
        kind = p.get("type")
        if kind == "Sequence":
            stack.extend(p.get("processors") or [])
        elif kind == "TemplateProcessing":
            for tok in (p.get("special_tokens") or {}).values():
                for content, i in zip(tok["tokens"], tok["ids"], strict=True):
                    ids[content] = int(i)
        elif kind in ("RobertaProcessing", "BertProcessing"):
            for content, i in (p["sep"], p["cls"]):
                ids[content] = int(i)
        elif kind != "ByteLevel":
            return None
    return ids


def _write_lazy_unigram(tokenizer_json: Path, out_dir: Path, meta: dict[str, Any]) -> dict[str, Any] | None:
    """Write the lazy Unigram files, if the tokenizer is a Unigram one and the lazy form is exact."""
    spec = _read_json(tokenizer_json)
    model = spec.get("model") or {}
    if model.get("type") != "Unigram" or model.get("byte_fallback") or model.get("unk_id") is None:
        return None
    vocab = model.get("vocab") or []
    pieces = [p for p, _ in vocab]
    unk_id = int(model["unk_id"])
    token_ids = _special_token_ids(spec)
    if token_ids is None or not pieces or any(not p or "\x00" in p for p in pieces) or len(set(pieces)) < len(pieces):
        return None
    scores = np.array([s for _, s in vocab], dtype=np.float64)
    piece_array = np.array(pieces)
    order = np.argsort(piece_array, kind="stable")
    sorted_pieces = piece_array[order]
    min_id = int(np.argmin(scores))
    info = {
        "max_piece_chars": max(map(len, pieces)),
        "unk_id": unk_id,
        "always_pieces": {str(unk_id): pieces[unk_id], str(min_id): pieces[min_id]},
        "token_ids": token_ids,
    }
    shell = dict(spec)
    shell["model"] = {**model, "unk_id": 0, "vocab": [[pieces[unk_id], float(scores[unk_id])]]}
    with open(out_dir / SHELL_JSON, "w", encoding="utf-8") as f:
        json.dump(shell, f, ensure_ascii=False)
    np.save(out_dir / _PIECES_NPY, sorted_pieces)
    np.save(out_dir / _PIECE_IDS_NPY, order.astype(np.int32))
    np.save(out_dir / _SCORES_NPY, scores)

    full = _FullTokenizer(_load_tokenizer(tokenizer_json, meta))
    lazy = _LazyUnigramTokenizer(_load_tokenizer(out_dir / SHELL_JSON, meta), UnigramPieces(out_dir, info), info)
    checks = [[t] for t in _SELF_CHECK_TEXTS] + [_SELF_CHECK_TEXTS]
    if all(np.array_equal(a, b) for batch in checks for a, b in zip(full(batch), lazy(batch), strict=True)):
        return info
    for name in (SHELL_JSON, _PIECES_NPY, _PIECE_IDS_NPY, _SCORES_NPY):
        (out_dir / name).unlink()
    return None


def write(tokenizer_json: Path, out_dir: Path, meta: dict[str, Any]) -> dict[str, Any] | None:
    """Copy ``tokenizer.json`` into ``out_dir`` and add its lazy form when exact; the lazy info or None.

    ``meta`` holds ``max_seq_length``, ``pad_token``, ``pad_token_id`` and ``do_lower_case``.
    """
    import shutil

    shutil.copyfile(tokenizer_json, out_dir / TOKENIZER_JSON)
    return _write_lazy_unigram(out_dir / TOKENIZER_JSON, out_dir, meta)


def load(folder: Path, meta: dict[str, Any], lazy: dict[str, Any] | None, whole: Any = None):
    """The tokenizer callable of a folder written by :func:`write` (lazy when ``lazy`` info is given).

    ``whole``: the folder's vocabulary already loaded elsewhere, a `CharsetVocabulary` (used with the folder's
    shell) or its ``tokenizer.json`` as a ``tokenizers.Tokenizer``; where the folder has the shell (a Unigram
    tokenizer), that model is shared instead of parsing the file again.
    """
    if isinstance(whole, CharsetVocabulary):
        return CharsetUnigramTokenizer(_load_tokenizer(folder / SHELL_JSON, meta), whole)
    if lazy:
        return _LazyUnigramTokenizer(_load_tokenizer(folder / SHELL_JSON, meta), UnigramPieces(folder, lazy), lazy)
    if whole is not None and (folder / SHELL_JSON).is_file():
        tok = _load_tokenizer(folder / SHELL_JSON, meta)
        tok.model = whole.model  # the same vocabulary, not a copy: read-only use from several threads is safe
        return _FullTokenizer(tok)
    return _FullTokenizer(_load_tokenizer(folder / TOKENIZER_JSON, meta))
