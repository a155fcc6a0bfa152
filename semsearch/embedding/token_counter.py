"""Exact token counts for chunking that start in milliseconds: no count ever builds e5's whole vocabulary.

`TokenizerCounter` loads the model's `tokenizer.json` on its first count: for e5 (XLM-R's 250k-piece Unigram
vocabulary, 17 MB) that takes 0.6-1 s, most of what chunking one document costs. Where the ONNX export holds
the lazy Unigram form of the tokenizer (`fast_tokenizer`), two counters give the same counts without it:
`CharsetTokenizerCounter` (a bulk build's) cuts words with the vocabulary it shares with the bulk encoder, the
pieces made of the characters met so far (`fast_tokenizer.CharsetVocabulary`: ~0.2 s to build for Norwegian);
`LazyTokenizerCounter` (an update's) cuts each new word with a Unigram model of only that word's candidate
pieces, and switches to a charset vocabulary once it has cut about as many words as building one costs: an
update of a few documents pays milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semsearch.chunking import TokenizerCounter
from semsearch.embedding.fast_tokenizer import (
    SHELL_JSON,
    TOKENIZER_JSON,
    CharsetUnigramTokenizer,
    CharsetVocabulary,
    UnigramPieces,
)

# Words cut lazily before the switch to a charset vocabulary: ~80-130 µs a word against ~0.15-0.25 s for the
# vocabulary (e5, Norwegian, this project's 2-core VMs), so 1,500 words cost about one build; one news article
# holds 200-600 distinct words.
SWITCH_AFTER = 1_500

if TYPE_CHECKING:
    from semsearch.chunking.counting import TokenCounter
    from semsearch.embedding.embedder import Embedder


def token_counter(embedder: Embedder, bulk: bool = False) -> TokenCounter:
    """The fastest exact token counter for the embedder's model: where its ONNX export (already made for an ONNX
    build) exists, the bulk encoder's own tokenizer when `bulk` says much text is to come, else the lazy one;
    otherwise the model's tokenizer.json, or the model's own tokenizer.

    A build counts only once the bulk encoder's load compiles (`Embedder.wait_for_load_start`): the shared
    vocabulary is then made beside the compilation.
    """
    export = embedder.export if embedder.backend == "onnx" else None
    if export is not None and bulk and export[1].get("lazy_tokenizer"):  # the bulk encoder's vocabulary, shared
        return CharsetTokenizerCounter(export[0], embedder.bulk_vocabulary)
    if export is not None and bulk:  # the bulk encoder's tokenizer.json, parsed once for both
        return TokenizerCounter(export[0] / TOKENIZER_JSON, loaded=embedder.bulk_vocabulary)
    if export is not None and export[1].get("lazy_tokenizer"):
        return LazyTokenizerCounter(export[0], export[1]["lazy_tokenizer"], vocabulary=embedder.bulk_vocabulary)
    tokenizer = embedder.spec.path / TOKENIZER_JSON
    return TokenizerCounter(tokenizer) if tokenizer.is_file() else embedder.count_tokens


class CharsetTokenizerCounter(TokenizerCounter):
    """`TokenizerCounter` on the bulk encoder's `CharsetVocabulary` (the pieces made of the characters met so far):
    the same counts, without building the whole vocabulary. A copy in another process counts with tokenizer.json."""

    def __init__(self, folder: str | Path, vocabulary: Callable[[], CharsetVocabulary], cache_size: int = 500_000):
        super().__init__(Path(folder) / TOKENIZER_JSON, cache_size)
        self.folder = Path(folder)
        self._vocabulary_of = vocabulary
        self._vocabulary: CharsetVocabulary | None = None
        self._whole_texts: CharsetUnigramTokenizer | None = None

    def __reduce__(self):
        return TokenizerCounter, (self.path, self.cache_size)

    def _load(self, path: Path | None = None) -> None:
        vocabulary = self._vocabulary_of()
        # The shell is tokenizer.json without its vocabulary: normaliser, pre-tokenizer, added and special tokens.
        super()._load(self.folder / SHELL_JSON)
        self._vocabulary = vocabulary
        self._whole_texts = CharsetUnigramTokenizer(self._tokenizer, vocabulary)  # no truncation, no padding

    def _encoded_count(self, text: str) -> int:
        return int(self._whole_texts([text])[0].shape[1])  # rare: a text holding "<s>" and the like

    def _word_model(self, piece: str):
        return self._vocabulary.covering(set(piece))[0]


class LazyTokenizerCounter(CharsetTokenizerCounter):
    """`TokenizerCounter` over an ONNX export's lazy Unigram tokenizer (same counts, no vocabulary built up front):
    each new word is cut with a model of only its own candidate pieces, and past `switch_after` words (or at a text
    holding an added token) with a `CharsetVocabulary`, the given one (shared with the bulk encoder) or its own."""

    def __init__(
        self,
        folder: str | Path,
        info: dict[str, Any],
        cache_size: int = 500_000,
        switch_after: int = SWITCH_AFTER,
        vocabulary: Callable[[], CharsetVocabulary] | None = None,
    ):
        super().__init__(folder, vocabulary or partial(CharsetVocabulary, Path(folder), info), cache_size)
        self.info, self.switch_after = info, switch_after
        self._pieces: UnigramPieces | None = None
        self.lazy_words = 0

    def __reduce__(self):  # a copy in another process makes its own vocabulary when it switches
        return LazyTokenizerCounter, (self.folder, self.info, self.cache_size, self.switch_after)

    @property
    def switched(self) -> bool:
        """Whether it has switched to the charset vocabulary (after `switch_after` words, or an added token)."""
        return self._vocabulary is not None

    def _load(self, path: Path | None = None) -> None:
        TokenizerCounter._load(self, self.folder / SHELL_JSON)
        self._pieces = UnigramPieces(self.folder, self.info)

    def _switch(self) -> None:
        self._vocabulary = self._vocabulary_of()
        self._whole_texts = CharsetUnigramTokenizer(self._tokenizer, self._vocabulary)
        self._pieces = None

    def _encoded_count(self, text: str) -> int:
        if self._pieces is not None:  # rare (a text holding "<s>" and the like)
            self._switch()
        return super()._encoded_count(text)

    def _word_model(self, piece: str):
        if self._pieces is None:
            return super()._word_model(piece)
        return self._pieces.model_for([piece])[0]

    def _word(self, word: str, prefix: str = "") -> int:
        if self._pieces is None or word in self._words:
            return super()._word(word, prefix)
        n = super()._word(word, prefix)  # cut lazily: counted, and the switch made past `switch_after` words
        self.lazy_words += 1
        if self.lazy_words >= self.switch_after:
            self._switch()
        return n
