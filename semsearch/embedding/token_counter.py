"""Exact token counts for chunking that start in milliseconds: a small update never loads the whole vocabulary.

`TokenizerCounter` loads the model's `tokenizer.json` on its first count: for e5 (XLM-R's 250k-piece Unigram
vocabulary, 17 MB) that takes ~0.6 s, most of what chunking one document costs. Where the ONNX export holds
the lazy Unigram form of the tokenizer (`fast_tokenizer`), `LazyTokenizerCounter` counts each new word with a
Unigram model of only that word's candidate pieces (the same segmentation as the whole vocabulary gives), and
loads the whole tokenizer once it has cut about as many words as the load would have cost: an update of a few
documents pays milliseconds, a large build loses ~one load's worth of time.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semsearch.chunking import TokenizerCounter
from semsearch.embedding.fast_tokenizer import SHELL_JSON, TOKENIZER_JSON, UnigramPieces

# Words cut lazily before the whole tokenizer is loaded: ~80-130 µs a word against ~0.6-1.5 s for the load
# (e5, this project's 2-core VMs, quiet to busy), so 4,000 words cost at most about one load; one news
# article holds 200-600 distinct words.
SWITCH_AFTER = 4_000

if TYPE_CHECKING:
    from semsearch.chunking.counting import TokenCounter
    from semsearch.embedding.embedder import Embedder


def token_counter(embedder: Embedder, bulk: bool = False, after_load: bool = False) -> TokenCounter:
    """The fastest exact token counter for the embedder's model: where its ONNX export (already made for an ONNX
    build) exists, the bulk encoder's own tokenizer when `bulk` says much text is to come, else the lazy one;
    otherwise the model's tokenizer.json, or the model's own tokenizer.

    `after_load`: the bulk encoder is being loaded in another thread (`Embedder.load_bulk`); the first count
    waits until that load starts the tokenizer's parse (see `Embedder.whole_tokenizer`)."""
    export = embedder.export if embedder.backend == "onnx" else None
    if export is not None and bulk:  # the bulk encoder's tokenizer, loaded once for both
        loaded = partial(embedder.whole_tokenizer, after_load_starts=after_load)
        return TokenizerCounter(export[0] / TOKENIZER_JSON, loaded=loaded)
    if export is not None and export[1].get("lazy_tokenizer"):
        return LazyTokenizerCounter(export[0], export[1]["lazy_tokenizer"])
    tokenizer = embedder.spec.path / TOKENIZER_JSON
    return TokenizerCounter(tokenizer) if tokenizer.is_file() else embedder.count_tokens


class LazyTokenizerCounter(TokenizerCounter):
    """`TokenizerCounter` over an ONNX export's lazy Unigram tokenizer (same counts, no 17 MB load up front)."""

    def __init__(self, folder: str | Path, info: dict[str, Any], cache_size: int = 500_000, switch_after: int = SWITCH_AFTER):
        super().__init__(Path(folder) / TOKENIZER_JSON, cache_size)
        self.folder, self.info, self.switch_after = Path(folder), info, switch_after
        self._vocab: UnigramPieces | None = None
        self.lazy_words = 0

    def __getstate__(self) -> dict:
        return {"folder": self.folder, "info": self.info, "cache_size": self.cache_size, "switch_after": self.switch_after}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["folder"], state["info"], state["cache_size"], state["switch_after"])

    @property
    def loaded_whole(self) -> bool:
        """Whether the whole tokenizer has been loaded (after `switch_after` words, or an added token)."""
        return self._tokenizer is not None and self._vocab is None

    def _load(self, path: Path | None = None) -> None:
        # The shell is tokenizer.json without its vocabulary: normaliser, pre-tokenizer, added and special tokens.
        super()._load(self.folder / SHELL_JSON)
        self._vocab = UnigramPieces(self.folder, self.info)

    def _load_whole(self) -> None:
        super()._load()
        self._vocab = None

    def _encoded_count(self, text: str) -> int:
        if self._vocab is not None:  # rare (a text holding "<s>" and the like): the whole tokenizer encodes it
            self._load_whole()
        return super()._encoded_count(text)

    def _word(self, word: str, prefix: str = "") -> int:
        if self._vocab is None:
            return super()._word(word, prefix)
        n = self._words.get(word)
        if n is None:
            model, _ = self._vocab.model_for([prefix + word])
            n = self._words[word] = len(model.tokenize(prefix + word))
            self.lazy_words += 1
            if self.lazy_words >= self.switch_after:
                self._load_whole()
        return n
