"""Hypothesis over questions and CLI arguments: never a traceback, and a user error is one line.

Arguments include lone surrogates (what Python makes of undecodable argv bytes), huge and negative k,
unknown modes, malformed dates and `--where` strings. Seeded (derandomized), so CI runs are repeatable.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import semsearch
from semsearch.cli import app
from semsearch.errors import SemsearchError

runner = CliRunner()
SETTINGS = settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)  # surrogates, controls, NUL
words = st.sampled_from(["Lavrov", "Syria", "strøm", "date", "2017-04", "", " ", "-", "--", "*", "%", "'", "\\", "é"])
text = st.one_of(any_text, st.lists(words, max_size=6).map(" ".join))
integer_text = st.one_of(
    st.integers(-(10**15), 10**15).map(str), st.sampled_from(["1e9", "0x10", "", " 5", "nan", "٣"]), any_text
)
date_text = st.one_of(
    st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)).map(str),
    st.from_regex(r"\A-?\d{1,5}(-\d{1,3}){0,3}\Z"),
    st.sampled_from(["2017-02-30", "2017-13", "0000", "99999-01", "2017-04-31T00:00", "i går"]),
    any_text,
)
where_fields = st.one_of(st.sampled_from(["doc_id", "title", "n"]), any_text)
where_values = st.one_of(text, st.lists(text, max_size=3), st.integers())
where_text = st.one_of(st.tuples(st.sampled_from(["doc_id", "title", "url", "n", ""]), text).map("=".join), any_text)


@st.composite
def query_args(draw) -> list[str]:
    """A `semsearch query` command line (without --index)."""
    args = ["query", draw(text)]
    options = {
        "-k": integer_text,
        "--mode": st.one_of(st.sampled_from(["hybrid", "dense", "lexical", "HYBRID", ""]), any_text),
        "--since": date_text,
        "--until": date_text,
        "--where": where_text,
        "--min-score": st.one_of(st.floats(allow_nan=True).map(str), any_text),
    }
    for name, values in options.items():
        for _ in range(draw(st.integers(0, 2 if name == "--where" else 1))):
            args += [name, draw(values)]
    args += draw(st.lists(st.sampled_from(["--per-article", "--json"]), max_size=2, unique=True))
    return args


def _one_line_error(result) -> str | None:
    """None when the CLI ended cleanly: exit 0, a one-line `error:` (exit 1) or Click's usage error (exit 2)."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return f"traceback: {result.exception!r}"
    err = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("warning:")]
    if result.exit_code == 1 and (len(err) != 1 or not err[0].startswith("error: ")):
        return f"a user error that is not one 'error:' line: {err}"
    if result.exit_code == 2 and not any(line.startswith("Error: ") for line in err):
        return f"a usage error without its 'Error:' line: {err}"
    if result.exit_code not in (0, 1, 2):
        return f"exit status {result.exit_code}"
    return None


@SETTINGS
@given(args=query_args())
@example(args=["query", "x", "--where", "\r\U0010beaa"])  # found by bench/reliability.py: a --where error on two lines
@example(args=["query", "x", "--since", "\x1e"])
def test_query_arguments_never_give_a_traceback(tiny_index, args):
    result = runner.invoke(app, [*args, "--index", str(tiny_index)])
    problem = _one_line_error(result)
    assert problem is None, f"{args!r}: {problem}\n{result.output[-800:]}"


library_calls = st.fixed_dictionaries(
    {
        "text": text,
        "k": st.one_of(st.integers(-5, 10**12), st.booleans()),
        "mode": st.one_of(st.sampled_from(["hybrid", "dense", "lexical"]), any_text),
        "since": st.one_of(st.none(), date_text, st.dates()),
        "until": st.one_of(st.none(), date_text, st.dates()),
        "where": st.one_of(st.none(), st.dictionaries(where_fields, where_values, max_size=2)),
        "min_score": st.one_of(st.none(), st.floats()),
        "per_article": st.booleans(),
    }
)


def library_problem(index, call: dict) -> str | None:
    """None when `semsearch.query(**call)` answers (at most k results) or raises a one-line SemsearchError."""
    try:
        found = semsearch.query(index=index, **call)
    except SemsearchError as e:
        return None if str(e).strip() and "\n" not in str(e) else f"a user error of several lines: {str(e)!r}"
    if not isinstance(found, list) or len(found) > call["k"]:
        return f"{len(found)} results for k={call['k']}"
    return None


@SETTINGS
@given(call=library_calls)
def test_library_query_answers_or_names_the_user_error(tiny_index, call):
    problem = library_problem(tiny_index, call)
    assert problem is None, f"{call!r}: {problem}"


def test_dense_query_with_a_huge_k_returns_every_chunk_at_most(tiny_index):
    info = semsearch.index_info(tiny_index)
    found = semsearch.query("Lavrov", k=10**9, index=tiny_index, mode="dense")
    assert len(found) == info.chunks


def test_a_no_op_build_removes_a_killed_runs_leftovers(tiny_index, tmp_path):
    """Issue 10, item 10: temporary folders of a killed run go even when the build has nothing to do."""
    from conftest import CORPUS

    index = tmp_path / "index"
    import shutil

    shutil.copytree(tiny_index, index)
    leftover = index / "segments" / ".tmp-0123456789abcdef"
    leftover.mkdir()
    (leftover / "vectors.npy").write_bytes(b"\x93NUMPY half written")
    commit_tmp = index / "meta" / ".0000000099.json.tmp-4242"
    commit_tmp.write_text("{", encoding="utf-8")
    result = runner.invoke(app, ["index", str(CORPUS), "--index", str(index)])
    assert result.exit_code == 0 and "up to date" in result.output
    assert not leftover.exists() and not commit_tmp.exists()
    check = runner.invoke(app, ["check", "--index", str(index)])
    assert check.exit_code == 0 and ".tmp-" not in check.output


def test_invalid_utf8_in_a_real_argv_is_answered(tiny_index):
    """Issue 10, item 5: bytes that are not UTF-8 on the command line (a real process, real argv bytes)."""
    import os
    import subprocess
    import sys

    for mode in (b"hybrid", b"dense"):
        cmd = [sys.executable.encode(), b"-m", b"semsearch.cli", b"query", b"a\xff b Lavrov", b"--mode", mode, b"--index",
               os.fsencode(tiny_index), b"--json"]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, timeout=120)
        assert out.returncode == 0 and out.stdout.startswith(b"["), out.stderr[-500:]
