"""The plain approach a user would hand-write: import sentence-transformers, load the model, encode, search FAISS.

    .venv/bin/python bench/plain_query.py INDEX_DIR "question"

Used by bench/speed.py as the cold-query baseline; searches the same FAISS file semsearch built.
"""

import sys
from pathlib import Path

import faiss
from sentence_transformers import SentenceTransformer

from semsearch.embedding.pypi_model import rebuilt_model_dir

index_dir, question = Path(sys.argv[1]), sys.argv[2]
snapshot = index_dir / "snapshots" / (index_dir / "CURRENT").read_text().strip()
model = SentenceTransformer(str(rebuilt_model_dir()), device="cpu")
index = faiss.read_index(str(snapshot / "dense.faiss"))
q = model.encode(["query: " + question], normalize_embeddings=True)
scores, ids = index.search(q, 5)
print(scores[0].tolist(), ids[0].tolist())
