"""How far work on the English question's vector alone can take English answers: options side by side.

    OMP_NUM_THREADS=1 .venv/bin/python bench/query_side.py [--lora-epochs 3] [--no-lora] [--no-hybrid]

Dense hit@1 / hit@10 / MRR@10 of the English NorQuAD questions, on the news index with and without 5,000
NoReC reviews, for each way of making the English question's vector; the difference to the shipped adapter in
points beside each:
- raw: the question's own vector;
- adapter: the shipped linear map (`search.adapter`, bench/fit_adapter.py);
- twin: the Norwegian twin question's vector. No query-side mapping can do better than this: it is the
  ceiling of the adapter, a fine-tune or a translation of the question;
- swapped + adapter: the adapted vector plus 0.3 times the vector of the question with its words swapped for
  their first translation in the shipped word list (train questions: cross-fitted word lists);
- lora: a LoRA (peft; rank 8 on every linear layer of the encoder's blocks) trained for `--lora-epochs` on the
  train questions to bring each English question's vector to its twin's. Its train figures are in sample;
  validation is held out.
Then the hybrid ceiling: the English fusion refitted on train (bench/tune_fusion.py) with the twin's vectors.
Nothing is shipped; this measures what is left for the dense side of English questions.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import tune_fusion  # noqa: E402
from fit_adapter import DenseJudge, mapped  # noqa: E402
from tune_fusion import DATA, NORQUAD, fold_lexicons, query_vectors  # noqa: E402

from semsearch.api import searcher  # noqa: E402
from semsearch.eval_index import eval_index  # noqa: E402
from semsearch.evaluate import LabelledQuery, load_queries  # noqa: E402
from semsearch.search import FusionParams, lexicon  # noqa: E402
from semsearch.search.adapter import load_adapter  # noqa: E402

_WORDS = re.compile(r"[^\W\d_]+")


def swapped(queries: list[LabelledQuery]) -> list[str]:
    """Each question with every word the word list knows replaced by its first translation's first form."""
    folds, shipped = fold_lexicons([q for q in queries if q.split == "train"]), lexicon.load_lexicon
    out = []
    for q in queries:
        lexicon.load_lexicon = (lambda q=q: folds[q.id]) if q.id in folds else shipped
        words, text, at = _WORDS.findall(q.query), [], 0
        for (start, end), group in lexicon.translate_spans(q.query):
            text += [*words[at:start], group[0].split("/")[0]]
            at = end
        out.append(" ".join(text + words[at:]) + "?")
    lexicon.load_lexicon = shipped
    return out


def lora_vectors(model_path: str, english: list[str], norwegian: list[str], train: np.ndarray, epochs: int) -> np.ndarray:
    """English question vectors from the encoder with a LoRA fitted on the train pairs (cosine to the twin)."""
    import torch
    from sentence_transformers import SentenceTransformer

    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        sys.exit("bench/query_side.py: the LoRA needs peft: pip install -e '.[bench]' (or pass --no-lora)")
    torch.manual_seed(0)
    model = SentenceTransformer(model_path, device="cpu")
    with torch.no_grad():
        target = torch.tensor(model.encode([f"query: {t}" for t in norwegian], normalize_embeddings=True))
    # Rank 8 on every linear layer of the encoder's blocks (attention and feed-forward); the rest stays frozen.
    config = LoraConfig(r=8, lora_alpha=8, lora_dropout=0.0, target_modules=r".*layer\.\d+\..*(query|key|value|dense)")
    model[0].auto_model = get_peft_model(model[0].auto_model, config)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=5e-4, weight_decay=0.0)
    idx, batch = np.flatnonzero(train), 32
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=5e-4, total_steps=epochs * math.ceil(len(idx) / batch))
    rng = np.random.default_rng(1)
    encode = lambda texts: torch.nn.functional.normalize(model(model.preprocess(texts))["sentence_embedding"], dim=-1)  # noqa: E731
    model.train()
    for _ in range(epochs):
        order = rng.permutation(idx)
        for s in range(0, len(order), batch):
            b = order[s : s + batch]
            loss = (1 - (encode([f"query: {english[i]}" for i in b]) * target[b]).sum(1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        return np.concatenate([encode([f"query: {t}" for t in english[s : s + 64]]).numpy() for s in range(0, len(english), 64)])


def _figures(f: tuple[float, ...]) -> str:
    return " / ".join(f"{x:.3f}" for x in f)


def dense_table(judges: dict[int, DenseJudge], rows: dict[str, np.ndarray], train: np.ndarray) -> None:
    """One line per option and index (by its distractors): validation and train figures, and the validation
    change against the adapter."""
    base = {d: j.figures(rows["adapter"], ~train) for d, j in judges.items()}
    print("| option | index | validation | train | validation change vs adapter (points) |\n|---|---|---|---|---|")
    for name, v in rows.items():
        for d, j in judges.items():
            val, tr = j.figures(v, ~train), j.figures(v, train)
            change = " / ".join(f"{100 * (a - b):+.1f}" for a, b in zip(val, base[d]))
            print(f"| {name} | +{d} | {_figures(val)} | {_figures(tr)} | {change} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lora-epochs", type=int, default=3)
    ap.add_argument("--no-lora", action="store_true")
    ap.add_argument("--no-hybrid", action="store_true")
    args = ap.parse_args()
    english = load_queries(NORQUAD / "queries-dev-en.jsonl")
    twin = {q.id: q for q in load_queries(NORQUAD / "queries-dev.jsonl")}
    norwegian = [twin[q.id] for q in english]
    indexes = {n: searcher(eval_index(NORQUAD / "docs", n, DATA / "norec" / "norec-nb.jsonl.gz")) for n in (0, 5000)}
    s = indexes[0]
    e, n = query_vectors(s, english).astype(np.float64), query_vectors(s, norwegian)
    adapted = mapped(e, load_adapter(s.generation.commit.model["name"]).astype(np.float64))
    train = np.array([q.split == "train" for q in english])
    rows = {"raw": e.astype(np.float32), "adapter": adapted, "twin": n}
    rows["swapped + adapter"] = mapped(adapted + 0.3 * s.embedder.embed_queries(swapped(english)), np.eye(e.shape[1]))
    if not args.no_lora:
        rows["lora"] = lora_vectors(
            str(s.embedder.spec.path), [q.query for q in english], [q.query for q in norwegian], train, args.lora_epochs
        )
    dense_table({n: DenseJudge(x, english) for n, x in indexes.items()}, rows, train)
    if not args.no_hybrid:
        print("\nhybrid, English questions with their Norwegian twin's vectors, fusion refitted on train:", flush=True)
        tune_fusion.query_vectors = lambda s, queries: query_vectors(s, [twin[q.id] for q in queries])
        shipped = FusionParams().en
        sys.argv = [sys.argv[0], "--lang", "en", "--adapt", "0", "--dense-span", "0.06", "--features", *shipped.features]
        tune_fusion.main()


if __name__ == "__main__":
    main()
