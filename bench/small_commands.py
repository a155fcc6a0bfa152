"""Wall time of the small real commands, in fresh processes, for one or more source trees, runs interleaved.

    python bench/small_commands.py --runs 9 [--cases query,changed,add,records] TREE [TREE ...]

Each TREE is a checkout of semsearch (put first on PYTHONPATH). One e5 index of --docs NorQuAD articles is
built once (with the first tree), then each round runs, per tree:

    query    a cold `semsearch query` (hybrid)
    changed  a one-file `semsearch index CORPUS --changed FILE` update (that file's text changed)
    add      `semsearch.add` of one record in a fresh `python -c`
    records  a one-file update of a JSONL file of --records articles, every record changed (more passages than a
             small update, less text than a bulk build)

Prints the median and range of each, per tree. The model is e5 from the user cache (`resolve_model(None)`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT.parent / "shared" / "data" / "norquad-news" / "docs"
QUESTION = "Hva sa Lavrov om angrepet i Syria?"
CLI = "import sys; from semsearch.cli import main; sys.argv[0] = 'semsearch'; main()"
ADD = (
    "import sys, semsearch; semsearch.add([{'id': 'added', 'title': 'Ny sak', 'text': "
    "'Lavrov snakket om Syria i Moskva. Tillerson svarte i Lucca etter møtet, og begge lovet nye samtaler ' + sys.argv[2]}],"
    " index=sys.argv[1])"
)


def run(tree: Path, args: list[str]) -> float:
    """Seconds of one fresh process of `python args` with `tree` first on the path (it must exit 0). It runs in the
    temporary folder: `python -c` puts the working folder before $PYTHONPATH, and a tree there would win."""
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    took = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{tree}: {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--docs", type=int, default=20)
    parser.add_argument("--records", type=int, default=30)
    parser.add_argument("--cases", default="query,changed,add,records", help="comma-separated cases to run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="small-commands-"))
    corpus, index = work / "corpus", work / "index"
    corpus.mkdir()
    for path in sorted(DOCS.glob("*.txt"))[: args.docs]:
        shutil.copyfile(path, corpus / path.name)
    changed = sorted(corpus.iterdir())[0]
    original = changed.read_text(encoding="utf-8")
    records = [p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.txt"))[-args.records :]]
    jsonl = corpus / "records.jsonl"
    write_records(jsonl, records, "first")
    took = run(args.trees[0], ["-c", CLI, "index", str(corpus), "-i", str(index)])
    print(f"building an e5 index of {args.docs} articles: {took:.1f} s")
    times: dict[tuple[str, Path], list[float]] = {}
    for r in range(args.runs):
        for tree in args.trees:
            changed.write_text(original + f"\nTillegg {r} om {tree.name}: Lavrov møtte Tillerson igjen.\n", encoding="utf-8")
            write_records(jsonl, records, f"{r} {tree.name}")
            cases = {
                "query": ["-c", CLI, "query", QUESTION, "-i", str(index)],
                "changed": ["-c", CLI, "index", str(corpus), "-i", str(index), "--changed", str(changed)],
                "add": ["-c", ADD, str(index), f"{r} {tree.name}"],
                "records": ["-c", CLI, "index", str(corpus), "-i", str(index), "--changed", str(jsonl)],
            }
            for name in args.cases.split(","):
                argv = cases[name]
                times.setdefault((name, tree), []).append(run(tree, argv))
    for (name, tree), got in times.items():
        print(f"{name:8} {str(tree):40} median {statistics.median(got):.3f} s  (min {min(got):.3f}, max {max(got):.3f})")
    shutil.rmtree(work, ignore_errors=True)


def write_records(path: Path, texts: list[str], stamp: str) -> None:
    """A JSONL file of `texts`, each record's text ending in `stamp` (so that each one changed)."""
    lines = (json.dumps({"id": f"r{i}", "text": f"{t}\nVersjon {stamp}."}, ensure_ascii=False) for i, t in enumerate(texts))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
