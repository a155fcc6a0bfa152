"""The plain approach a user would hand-write: import sentence-transformers, load the model, encode, search FAISS.

    .venv/bin/python bench/plain_query.py INDEX_DIR "question"

Used by bench/speed.py as the cold-query baseline; searches the same vectors semsearch built, with FAISS.
"""

import json
import sys
from pathlib import Path

import faiss
import numpy as np
from sentence_transformers import SentenceTransformer

from semsearch.embedding.pypi_model import rebuilt_model_dir

index_dir, question = Path(sys.argv[1]), sys.argv[2]
newest = max((index_dir / "meta").glob("*.json"))
segments = [s["name"] for s in json.loads(newest.read_text())["segments"]]
vectors = np.concatenate([np.load(index_dir / "segments" / name / "vectors.npy") for name in segments])
model = SentenceTransformer(str(rebuilt_model_dir()), device="cpu")
index = faiss.IndexFlatIP(vectors.shape[1])
index.add(vectors)
q = model.encode(["query: " + question], normalize_embeddings=True)
scores, ids = index.search(q, 5)
print(scores[0].tolist(), ids[0].tolist())
