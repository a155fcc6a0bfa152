"""Write the reference index of this semsearch's format: tests/data/index-v<FORMAT_VERSION>/.

Run it once per new format version, never again for one that has a reference (see docs/format.md):

    PYTHONPATH=. python tests/data/make_reference_index.py

The index holds the five seed articles of corpus/, embedded with the tests' tiny model (tests/tiny_model.py)
through torch, in two segments with delete marks and a file-state side file (format 4: restamps.sqlite, since
files.sqlite), so that every kind of file is there:
the first build reads article 000 without its last paragraph, the second the real one (a new segment, and
the old copy marked deleted), and a third after article 001 was touched notes its new stamp.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
CORPUS = TESTS.parent / "corpus"


def make(target: Path) -> None:
    """Build the reference index into `target` (which must not exist)."""
    sys.path.insert(0, str(TESTS))
    from tiny_model import build_tiny_model

    import semsearch

    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "tiny-model")
        corpus = Path(tmp) / "corpus"
        shutil.copytree(CORPUS, corpus)
        first = corpus / "000_d62e217e901e70a7.txt"
        text = first.read_text(encoding="utf-8")
        first.write_text(text.rstrip().rsplit("\n\n", 1)[0] + "\n", encoding="utf-8")
        index = Path(tmp) / "index"
        semsearch.build_index(corpus, index, model=str(model), backend="torch", progress=False)
        first.write_text(text, encoding="utf-8")
        semsearch.build_index(corpus, index, backend="torch", progress=False)
        touched = corpus / "001_b8141d4232c9699a.txt"
        os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
        semsearch.build_index(corpus, index, backend="torch", progress=False)
        (index / ".lock").unlink(missing_ok=True)
        shutil.copytree(index, target)


def main() -> None:
    from semsearch.index.commit import FORMAT_VERSION

    target = Path(__file__).resolve().parent / f"index-v{FORMAT_VERSION}"
    if target.exists():
        sys.exit(f"{target} exists: a format's reference is never made again (see docs/format.md)")
    make(target)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"wrote {target} ({size // 1024} KB)")


if __name__ == "__main__":
    main()
