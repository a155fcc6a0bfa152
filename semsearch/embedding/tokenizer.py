"""The model's tokenizer: one way to open it, token ids for the encoders, exact token counts for the chunker.

A Hugging Face tokenizer.json is opened by `open_tokenizer` only. XLM-R's 250k-piece Unigram vocabulary (e5) takes
`tokenizers` 0.6-2 s to build, holding the GIL, so an ONNX export also holds its lazy form (`write`, checked then
to tokenize exactly like the file): the tokenizer without its vocabulary (the shell), and the vocabulary's pieces,
sorted and memory-mapped. A word's segmentation only involves the vocabulary pieces that are substrings of it, so
a Unigram model of a subset of pieces cuts the words it covers exactly as the whole vocabulary does:

- `LazyVocabulary`: a model of just the pieces of the words at hand, made in milliseconds: for a cold query and a
  small update, where even a charset vocabulary would cost 0.3-0.6 s;
- `CharsetVocabulary`: a model of the pieces made of the characters met so far (~0.3 s for Norwegian news), grown
  when text brings new characters: one per bulk build, shared by the chunker's counter and the bulk encoder.

`Tokenizer` gives an encoder's ids and mask, on tokenizer.json as it is or on either vocabulary; `TokenizerCounter`
gives the chunker's counts.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semsearch import runtimes

TOKENIZER_JSON = "tokenizer.json"
SHELL_JSON = "tokenizer_shell.json"  # tokenizer.json with a one-piece vocabulary
_PIECES_NPY = "unigram_pieces.npy"  # the vocabulary pieces, sorted, fixed-width unicode
_PIECE_IDS_NPY = "unigram_piece_ids.npy"  # vocabulary id of each sorted piece
_SCORES_NPY = "unigram_scores.npy"  # score of each vocabulary id

# Words a lazy counter cuts before it moves to a charset vocabulary: ~80-130 µs a word against ~0.15-0.25 s for the
# vocabulary (e5, Norwegian), so 1,500 words cost about one build; one news article holds 200-600 distinct words.
SWITCH_AFTER = 1_500

# A charset vocabulary grows by blocks of 128 code points (the characters of a script come together). It starts with
# what Norwegian or English news holds besides Latin-1: Latin Extended-A and -B and the combining accents (names such
# as Łukasz, Şahin, Dvořák), punctuation, currency, arrows, symbols and dingbats (U+2581 "▁", the word-start mark
# that SentencePiece puts on every word, among them), variation selectors and the emoji: e5 holds ~112k pieces
# made of those, so Norwegian news needs one build.
BLOCK = 128
# Builds before a charset vocabulary takes every piece: text of many scripts (CJK alone spans ~160 blocks) would
# otherwise rebuild it at each new block. All 42k NoReC reviews (Norwegian, some emoji) grow it 18 times.
MAX_BUILDS = 24
_BASE_RANGES = ((0x0, 0x24F), (0x300, 0x36F), (0x2000, 0x27BF), (0xFE00, 0xFE0F), (0x1F000, 0x1FAFF))
BASE_CHARS = frozenset(chr(c) for lo, hi in _BASE_RANGES for c in range(lo, hi + 1))

# Texts the lazy form is checked against tokenizer.json on, at export time.
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


def open_tokenizer(path: Path, meta: dict[str, Any] | None = None) -> Any:
    """The `tokenizers.Tokenizer` in `path`, as counting needs it (no truncation, no padding); with `meta` (an
    export's `tokenizer` settings) as the model reads text: lower-cased if it asks, truncated to `max_seq_length`
    and padded on the right."""
    tok = runtimes.load("tokenizers").Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()
    if meta is None:
        return tok
    if meta.get("do_lower_case"):
        normalizers = runtimes.load("tokenizers.normalizers")
        tok.normalizer = normalizers.Sequence([normalizers.Lowercase(), *([tok.normalizer] if tok.normalizer else [])])
    tok.enable_truncation(max_length=int(meta["max_seq_length"]))
    pad_token = meta.get("pad_token")
    pad_id = tok.token_to_id(pad_token) if pad_token else None
    if pad_id is None:
        pad_id = meta.get("pad_token_id")
        pad_id = int(pad_id) if isinstance(pad_id, int) else 0
        pad_token = tok.id_to_token(pad_id) or "[PAD]"
    tok.enable_padding(direction="right", pad_id=pad_id, pad_token=pad_token)
    return tok


# ------------------------------------------------------------------------------------------------ vocabularies


class LazyVocabulary:
    """The vocabulary of an export's lazy form (memory-mapped), giving Unigram models of just the pieces some words
    or characters need: each cuts those words exactly as the whole vocabulary does."""

    def __init__(self, folder: Path, info: dict[str, Any]):
        self.info = info
        self._pieces = np.load(Path(folder) / _PIECES_NPY, mmap_mode="r")
        self._piece_ids = np.load(Path(folder) / _PIECE_IDS_NPY, mmap_mode="r")
        self._scores = np.load(Path(folder) / _SCORES_NPY, mmap_mode="r")
        self._max_chars = int(info["max_piece_chars"])
        self._unk_id = int(info["unk_id"])
        self._always = {int(k): v for k, v in info["always_pieces"].items()}  # the unknown and lowest-scoring pieces

    def model_for(self, words: Iterable[str]) -> tuple[Any, dict[str, int]]:
        """A Unigram model of the pieces that are substrings of `words` (and the unknown and lowest-scoring pieces,
        which set the unknown-token penalty), and those pieces' vocabulary ids."""
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
        return _unigram(vocab, order.index(self._unk_id)), found

    def model_for_chars(self, chars: Iterable[str] | None) -> tuple[Any, dict[str, int]]:
        """A Unigram model of the pieces made only of `chars` (every piece for None; and the unknown and
        lowest-scoring pieces), and their vocabulary ids: any word made of `chars` is cut as by the whole vocabulary."""
        take = np.zeros(len(self._scores), dtype=bool)
        if chars is None:
            take[:] = True
        else:
            allowed = np.zeros(0x110000, dtype=bool)
            allowed[0] = True  # the padding of the fixed-width piece array
            allowed[[ord(c) for c in chars]] = True
            codes = np.asarray(self._pieces).view(np.uint32).reshape(len(self._pieces), -1)
            take[self._piece_ids[allowed[codes].all(axis=1)]] = True
        take[list(self._always)] = True
        ids = np.flatnonzero(take)
        position = np.empty(len(self._piece_ids), dtype=np.int64)
        position[self._piece_ids] = np.arange(len(self._piece_ids))
        pieces = self._pieces[position[ids]].tolist()
        vocab = list(zip(pieces, self._scores[ids].tolist(), strict=True))
        return _unigram(vocab, int(np.searchsorted(ids, self._unk_id))), dict(zip(pieces, ids.tolist(), strict=True))


def _unigram(vocab: list[tuple[str, float]], unk: int) -> Any:
    return runtimes.load("tokenizers.models").Unigram(vocab, unk, False)


def _blocks(chars: Iterable[str]) -> set[str]:
    """Every character of the 128-code-point blocks that `chars` fall in."""
    starts = {ord(c) // BLOCK * BLOCK for c in chars}
    return {chr(c) for s in starts for c in range(s, s + BLOCK) if not 0xD800 <= c < 0xE000}


class CharsetVocabulary:
    """A Unigram model of the pieces made only of the characters met so far, grown (rebuilt) when text brings new
    ones; thread-safe. For e5, Norwegian or English news needs ~112k of the 250k pieces."""

    def __init__(self, folder: Path, info: dict[str, Any]):
        self.info = info
        self.pieces = LazyVocabulary(folder, info)
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

    def model_for(self, words: Iterable[str]) -> tuple[Any, dict[str, int]]:
        """The model covering every character of `words` (see `LazyVocabulary.model_for`)."""
        return self.covering(set().union(*words))


# ------------------------------------------------------------------------------------------------ ids for encoders


class Tokenizer:
    """Token ids and attention masks exactly as tokenizer.json gives them: the `shell` as it is, or, given a
    `vocabulary` (`LazyVocabulary` or `CharsetVocabulary`), the shell on a model of the pieces each call's words need,
    its tokens mapped back to vocabulary ids. Thread-safe: the model is swapped per call, under a lock."""

    def __init__(self, shell: Any, vocabulary: LazyVocabulary | CharsetVocabulary | None = None):
        self.tok = shell
        self.vocabulary = vocabulary
        self._lock = threading.Lock()
        contents = sorted({t.content for t in shell.get_added_tokens_decoder().values() if t.content}, key=len, reverse=True)
        self._split = re.compile("|".join(map(re.escape, contents))) if contents else None
        pre = shell.pre_tokenizer
        probe = "a b"  # characters the pre-tokenizer adds to words (Metaspace's "▁"), which pieces hold too
        self._pre_chars = set("".join(w for w, _ in pre.pre_tokenize_str(probe))) - set(probe) if pre is not None else set()
        if vocabulary is not None:
            self._unk_id = int(vocabulary.info["unk_id"])
            self._fixed = {str(k): int(v) for k, v in vocabulary.info["token_ids"].items()}  # special token -> id
            pad = shell.padding
            if pad and pad.get("pad_token") is not None and pad["pad_token"] not in self._fixed:
                self._fixed[pad["pad_token"]] = int(pad["pad_id"])

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Ids (int64) and attention mask (bool) of `texts`, [len(texts), longest], as the shell pads them."""
        encodings, ids = self.encode(texts)
        return np.asarray(ids, dtype=np.int64), np.asarray([e.attention_mask for e in encodings], dtype=bool)

    def encode(self, texts: list[str]) -> tuple[list[Any], list[list[int]]]:
        """The shell's encodings of `texts`, and their vocabulary ids."""
        if self.vocabulary is None:
            encodings = _encode(self.tok, texts)
            return encodings, [e.ids for e in encodings]
        with self._lock:
            self.tok.model, found = self._model_for(texts)
            encodings = _encode(self.tok, texts)
        fixed, unk = self._fixed, self._unk_id
        return encodings, [[fixed[t] if t in fixed else found.get(t, unk) for t in e.tokens] for e in encodings]

    def _model_for(self, texts: list[str]) -> tuple[Any, dict[str, int]]:
        """A model that cuts the words of `texts` as the whole vocabulary does. A charset vocabulary needs only their
        characters, which the normalised text gives without pre-tokenizing it (half the cost of a bulk batch's ids)."""
        if isinstance(self.vocabulary, CharsetVocabulary):
            return self.vocabulary.covering(set().union(*map(self.chars, texts)) | self._pre_chars)
        return self.vocabulary.model_for(set().union(*map(self.words, texts)))

    def chars(self, text: str) -> set[str]:
        """Every character of the words the shell's model is given for `text`, less what the pre-tokenizer adds."""
        normalize = self.tok.normalizer.normalize_str if self.tok.normalizer is not None else str
        if self._split is None or not self._split.search(text):
            return set(normalize(text))
        return set().union(*map(normalize, self._segments(text)))  # part by part between added tokens, as in `words`

    def words(self, text: str) -> set[str]:
        """A superset of the pre-tokenized words the shell's model is given for `text`."""
        normalizer, pre = self.tok.normalizer, self.tok.pre_tokenizer
        normalize = normalizer.normalize_str if normalizer is not None else str
        normalized = {normalize(text)}
        if self._split is not None and (self._split.search(text) or self._split.search(next(iter(normalized)))):
            # Added tokens split the text first (eating the spaces beside them where they say so), in the raw text
            # or only once normalised: every part, with and without those spaces, normalised.
            normalized = {normalize(seg) for seg in self._segments(text)}
            normalized = set().union(*map(self._segments, normalized))
        if pre is None:
            return normalized
        return {w for norm in normalized for w, _ in pre.pre_tokenize_str(norm)}

    def _segments(self, text: str) -> set[str]:
        """`text`, and its parts between added tokens with and without their surrounding spaces."""
        segments = {text}
        for part in self._split.split(text):
            segments.update((part, part.strip(), part.lstrip(), part.rstrip()))
        return segments


def _encode(tok: Any, texts: list[str]) -> list[Any]:
    """``tok.encode_batch(texts)``, with a single text encoded directly."""
    return [tok.encode(texts[0])] if len(texts) == 1 else tok.encode_batch(texts)


def for_encoder(folder: Path, marker: dict[str, Any], vocabulary: Any = None) -> Tokenizer:
    """The tokenizer an encoder of the export in `folder` (`marker` its marker) runs: on `vocabulary` when it is a
    bulk build's `CharsetVocabulary`, else on the lazy form when the export has one, else tokenizer.json as it is."""
    meta, lazy = marker["tokenizer"], marker.get("lazy_tokenizer")
    if isinstance(vocabulary, CharsetVocabulary):
        return Tokenizer(open_tokenizer(folder / SHELL_JSON, meta), vocabulary)
    if lazy:
        return Tokenizer(open_tokenizer(folder / SHELL_JSON, meta), LazyVocabulary(folder, lazy))
    return Tokenizer(open_tokenizer(folder / TOKENIZER_JSON, meta))


# ------------------------------------------------------------------------------------------------ counts for chunking


class TokenizerCounter:
    """Exact token counts for the chunker: what tokenizer.json gives with no truncation and no padding (special
    tokens included), each pre-tokenized word cut once.

    A fast tokenizer normalises a text, pre-tokenizes it into words and runs its model on each word alone, so a
    text's count is its special tokens plus its words' counts. This runs the tokenizer's own normaliser and
    pre-tokenizer and remembers each word's count. A text holding an added token (`<s>`, `[CLS]`, ...) is encoded
    whole. The file is opened on the first count.

    Args:
        path: tokenizer.json, or an export's shell (tokenizer_shell.json) with `vocabulary` or `lazy`.
        cache_size: word counts kept (the memo is cleared past it).
        vocabulary: gives, on the first count, the vocabulary shared with a bulk encoder: a `CharsetVocabulary`
            (words are cut with it), or tokenizer.json already parsed (used as it is, instead of opening `path`).
        lazy: the export's lazy-form info: each new word is cut with a `LazyVocabulary` model of its own pieces
            until `switch_after` words, then with `vocabulary()` or a `CharsetVocabulary` of its own.

    It is picklable, for a process pool: a copy reopens `path` (lazily where `lazy` is given; a shell's copy
    opens the export's tokenizer.json).
    """

    def __init__(
        self,
        path: str | Path,
        cache_size: int = 500_000,
        vocabulary: Callable[[], Any] | None = None,
        lazy: dict[str, Any] | None = None,
        switch_after: int = SWITCH_AFTER,
    ):
        self.path, self.cache_size, self.lazy, self.switch_after = Path(path), cache_size, lazy, switch_after
        self._vocabulary_of = vocabulary
        self._tokenizer: Any = None
        self._charset: CharsetVocabulary | None = None  # what words are cut with, once lazy cutting is over
        self._pieces: LazyVocabulary | None = None  # what new words are cut with while lazy
        self._whole: Tokenizer | None = None  # encodes a text holding an added token
        self._words: dict[str, int] = {}
        self.lazy_words = 0

    def __reduce__(self):
        if self.lazy:
            return TokenizerCounter, (self.path, self.cache_size, None, self.lazy, self.switch_after)
        return TokenizerCounter, (self.path.with_name(TOKENIZER_JSON), self.cache_size)

    @property
    def switched(self) -> bool:
        """Whether a lazy counter has moved to a charset vocabulary (past `switch_after` words)."""
        return self.lazy is not None and self._pieces is None and self._tokenizer is not None

    def forget(self) -> None:
        """Drop the cached word counts (counts stay exact either way; this only frees memory)."""
        self._words.clear()

    def _load(self) -> None:
        shared = self._vocabulary_of() if self._vocabulary_of is not None and not self.lazy else None
        tok = shared if shared is not None and not isinstance(shared, CharsetVocabulary) else open_tokenizer(self.path)
        self._tokenizer, self._charset = tok, shared if isinstance(shared, CharsetVocabulary) else None
        self._pieces = LazyVocabulary(self.path.parent, self.lazy) if self.lazy else None
        self._whole = Tokenizer(tok, self._pieces or self._charset)
        self._specials = tok.num_special_tokens_to_add(False)
        self._metaspace = _plain_metaspace(tok)

    def _switch(self) -> None:
        """From cutting each word lazily to a charset vocabulary (the shared one, or one of its own)."""
        own = self._vocabulary_of is None
        self._charset = CharsetVocabulary(self.path.parent, self.lazy) if own else self._vocabulary_of()
        self._pieces = None
        self._whole = Tokenizer(self._tokenizer, self._charset)

    def __call__(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text as the model sees it, special tokens included, before truncation."""
        if self._tokenizer is None:
            self._load()
        tok = self._tokenizer
        normalize = tok.normalizer.normalize_str if tok.normalizer is not None else str
        pre_tokenize = tok.pre_tokenizer.pre_tokenize_str if tok.pre_tokenizer is not None else (lambda s: [(s, None)])
        words, added, specials = self._words, self._whole._split, self._specials
        if len(words) > self.cache_size:
            words.clear()
        counts = []
        for text in texts:
            normalized = normalize(text)
            if added is not None and (added.search(text) or added.search(normalized)):
                counts.append(len(self._whole.encode([text])[1][0]))
            elif self._metaspace:
                counts.append(specials + self._metaspace_count(normalized))
            else:
                pieces = [w for w, _ in pre_tokenize(normalized)]
                try:
                    counts.append(specials + sum(map(words.__getitem__, pieces)))
                except KeyError:
                    counts.append(specials + sum(map(self._word, pieces)))
        return counts

    def _metaspace_count(self, normalized: str) -> int:
        """Model tokens of a normalised text under a plain Metaspace pre-tokenizer (see `_plain_metaspace`)."""
        if not normalized:
            return 0
        parts = normalized.replace(" ", _METASPACE).split(_METASPACE)
        words = parts if parts[0] else parts[1:]  # each word is "▁" + part; "▁" is prepended when missing
        try:
            return sum(map(self._words.__getitem__, words))
        except KeyError:
            return sum(self._word(w, _METASPACE) for w in words)

    def _word(self, word: str, prefix: str = "") -> int:
        n = self._words.get(word)
        if n is None:
            piece = prefix + word
            if self._pieces is not None:
                model = self._pieces.model_for([piece])[0]
                self.lazy_words += 1
            else:
                model = self._charset.covering(set(piece))[0] if self._charset is not None else self._tokenizer.model
            n = self._words[word] = len(model.tokenize(piece))
            if self._pieces is not None and self.lazy_words >= self.switch_after:
                self._switch()
        return n


_METASPACE = "\u2581"
_METASPACE_PROBES = ("", " ", "a", " a", "a  b", "\u2581a\u2581\u2581b c ", "x\u2581 y", "  ")


def _plain_metaspace(tok: Any) -> bool:
    """Whether the pre-tokenizer is Metaspace("▁", prepend always, split): then the words of a text are
    "▁" + each piece of `text.replace(" ", "▁").split("▁")`, which plain string methods find far faster
    than `pre_tokenize_str`. Checked against the tokenizer's own pre-tokenizer on a few probes too."""
    config = json.loads(tok.pre_tokenizer.__getstate__()) if tok.pre_tokenizer is not None else {}
    if config != {"type": "Metaspace", "replacement": _METASPACE, "prepend_scheme": "always", "split": True}:
        return False
    for probe in _METASPACE_PROBES:
        parts = probe.replace(" ", _METASPACE).split(_METASPACE) if probe else []
        ours = [_METASPACE + p for p in (parts if not parts or parts[0] else parts[1:])]
        if ours != [w for w, _ in tok.pre_tokenizer.pre_tokenize_str(probe)]:
            return False
    return True


# ------------------------------------------------------------------------------------------------ export


def write(tokenizer_json: Path, out_dir: Path, meta: dict[str, Any]) -> dict[str, Any] | None:
    """Copy tokenizer.json into `out_dir` and add its lazy form when the tokenizer is a Unigram one and the form is
    exact on `_SELF_CHECK_TEXTS`; the lazy form's info, or None.

    `meta` holds `max_seq_length`, `pad_token`, `pad_token_id` and `do_lower_case` (see `open_tokenizer`).
    """
    shutil.copyfile(tokenizer_json, out_dir / TOKENIZER_JSON)
    info = _write_lazy_unigram(out_dir / TOKENIZER_JSON, out_dir)
    if info is None:
        return None
    whole = Tokenizer(open_tokenizer(out_dir / TOKENIZER_JSON, meta))
    lazy = Tokenizer(open_tokenizer(out_dir / SHELL_JSON, meta), LazyVocabulary(out_dir, info))
    checks = [[t] for t in _SELF_CHECK_TEXTS] + [_SELF_CHECK_TEXTS]
    if all(np.array_equal(a, b) for batch in checks for a, b in zip(whole(batch), lazy(batch), strict=True)):
        return info
    for name in (SHELL_JSON, _PIECES_NPY, _PIECE_IDS_NPY, _SCORES_NPY):
        (out_dir / name).unlink()
    return None


def _write_lazy_unigram(tokenizer_json: Path, out_dir: Path) -> dict[str, Any] | None:
    """Write the lazy form's files for a Unigram tokenizer (None for another kind); its info."""
    with open(tokenizer_json, encoding="utf-8") as f:
        spec = json.load(f)
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
    min_id = int(np.argmin(scores))
    shell = {**spec, "model": {**model, "unk_id": 0, "vocab": [[pieces[unk_id], float(scores[unk_id])]]}}
    with open(out_dir / SHELL_JSON, "w", encoding="utf-8") as f:
        json.dump(shell, f, ensure_ascii=False)
    np.save(out_dir / _PIECES_NPY, piece_array[order])
    np.save(out_dir / _PIECE_IDS_NPY, order.astype(np.int32))
    np.save(out_dir / _SCORES_NPY, scores)
    return {
        "max_piece_chars": max(map(len, pieces)),
        "unk_id": unk_id,
        "always_pieces": {str(unk_id): pieces[unk_id], str(min_id): pieces[min_id]},
        "token_ids": token_ids,
    }


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
