"""Chunking many articles in worker processes, a bounded number of batches in flight, order kept."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice

from semsearch.chunking.counting import TokenCounter
from semsearch.reading.articles import Article

_worker: tuple | None = None  # (count_tokens, params, prompt), set once per worker process


def _init(count_tokens: TokenCounter, params, prompt: str) -> None:
    global _worker
    _worker = (count_tokens, params, prompt)


def _chunk_group(articles: list[Article]) -> list:
    from semsearch.chunking.chunker import chunk_many

    assert _worker is not None
    count_tokens, params, prompt = _worker
    return list(chunk_many(articles, count_tokens, params, prompt, batch=len(articles)))


def chunk_in_processes(
    articles: Iterable[Article], count_tokens: TokenCounter, params, prompt: str, processes: int, batch: int
) -> Iterator[list]:
    """Yield each article's chunks, in order, chunked by `processes` workers `batch` articles at a time.

    `count_tokens` is pickled into each worker once: pass a picklable counter such as
    `embedding.tokenizer.TokenizerCounter` (a bound `Embedder.count_tokens` would ship the whole embedder). Workers start
    with forkserver, so a parent that has loaded torch or started threads is safe to use.
    """
    context = multiprocessing.get_context("forkserver")
    it = iter(articles)
    pending: deque[Future] = deque()
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_init, initargs=(count_tokens, params, prompt)) as pool:
        while True:
            while len(pending) < 2 * processes and (group := list(islice(it, batch))):
                pending.append(pool.submit(_chunk_group, group))
            if not pending:
                return
            yield from pending.popleft().result()
