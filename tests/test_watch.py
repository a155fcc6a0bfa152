"""`semsearch watch`: a real process on a real folder, kept current through the OS's file events."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

import semsearch
from semsearch.index import store

pytest.importorskip("watchfiles", reason="the watch extra is not installed: pip install 'semsearch[watch]'")

DEADLINE_S = 60  # for one update to show up (model load included); the test stops the process itself


def _lines(stream, out: queue.Queue) -> None:
    for line in stream:
        out.put(line.rstrip("\n"))


def _wait_for(lines: queue.Queue, text: str, seen: list[str]) -> None:
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return
    pytest.fail(f"no '{text}' within {DEADLINE_S} s; the process said: {seen}")


def _ids(index) -> list[str]:
    return sorted(d.doc_id for d in store.open_generation(index).catalog())


def test_watch_indexes_the_folder_then_follows_its_changes(tiny_model, tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    (corpus / "2026").mkdir(parents=True)
    (corpus / "a.txt").write_text("Lavrov besøkte Syria i går.")
    (corpus / "2026" / "b.txt").write_text("Strømprisen steg i Bergen.")
    code = "import sys; from semsearch.cli import main; sys.argv[0] = 'semsearch'; main()"
    args = ["watch", str(corpus), "--index", str(index), "--model", str(tiny_model)]
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
    seen: list[str] = []
    try:
        _wait_for(lines, "watching", seen)
        assert _ids(index) == ["2026/b", "a"]
        (corpus / "2026" / "c.txt").write_text("Regjeringen la fram avtalen om valget.")
        (corpus / "a.txt").unlink()
        (corpus / ".c.txt.swp").write_text("an editor's swap file")
        _wait_for(lines, "removed", seen)
        if _ids(index) != ["2026/b", "2026/c"]:  # the two events may come as two updates
            _wait_for(lines, "removed", seen)
        assert _ids(index) == ["2026/b", "2026/c"], seen
        assert semsearch.query("avtalen om valget", index=index, k=1, mode="lexical")[0].doc_id == "2026/c"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("watch did not stop on Ctrl-C")
    rest = proc.stdout.read() if proc.stdout else ""
    assert proc.returncode == 0 and "Traceback" not in rest, rest
    # Nothing was left out: a full build finds the index current.
    assert semsearch.build_index(corpus, index).unchanged


def test_watch_without_the_extra_names_it(tmp_path, monkeypatch):
    from semsearch.ingest.watch import watch_index

    monkeypatch.setitem(sys.modules, "watchfiles", None)  # as if not installed
    with pytest.raises(semsearch.SemsearchError, match=r"pip install 'semsearch\[watch\]'"):
        watch_index(tmp_path, tmp_path / "index")


def test_watch_ignores_the_index_folder_hidden_files_and_unsupported_ones(tmp_path):
    from semsearch.ingest.watch import _filter

    (tmp_path / "index").mkdir()
    (tmp_path / "notes.pdf").write_text("x")
    (tmp_path / "sub").mkdir()
    keep = _filter(tmp_path, tmp_path / "index")
    assert keep(str(tmp_path / "a.txt")) and keep(str(tmp_path / "sub"))  # a gone file, a folder
    assert keep(str(tmp_path / "gone-folder"))
    assert not keep(str(tmp_path / "index" / "segments" / "x"))
    assert not keep(str(tmp_path / ".a.txt.swp")) and not keep(str(tmp_path / ".git" / "HEAD"))
    assert not keep(str(tmp_path / "notes.pdf"))


def test_a_failed_update_is_reported_in_one_line_and_watching_goes_on(tiny_model, tmp_path, monkeypatch):
    """An update whose chunking thread dies names the error and its files; the next change retries them."""
    from semsearch.ingest import pipeline
    from semsearch.ingest.watch import watch_index

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Lavrov besøkte Syria i går.")
    real, calls = pipeline.chunk_entries, []

    def dies_once(article, *args):
        calls.append(article.doc_id)
        if article.doc_id == "b":
            raise RuntimeError("the chunking thread died")
        return real(article, *args)

    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    watcher = threading.Thread(
        target=watch_index,
        args=(corpus, index, str(tiny_model)),
        kwargs={"on_update": lambda s: events.put(("update", s)), "on_error": lambda m: events.put(("error", m)),
                "stop": stop, "debounce_ms": 200},
        daemon=True,
    )  # fmt: skip
    watcher.start()
    try:
        assert events.get(timeout=DEADLINE_S)[0] == "update"
        monkeypatch.setattr(pipeline, "chunk_entries", dies_once)
        (corpus / "b.txt").write_text("Strømprisen steg i Bergen.")
        kind, message = events.get(timeout=DEADLINE_S)
        assert kind == "error" and message.count("\n") == 0, message
        assert "b.txt" in message and "RuntimeError: the chunking thread died" in message and "still watching" in message
        assert _ids(index) == ["a"]
        monkeypatch.setattr(pipeline, "chunk_entries", real)
        (corpus / "c.txt").write_text("Regjeringen la fram avtalen om valget.")
        kind, stats = events.get(timeout=DEADLINE_S)
        while kind == "update" and _ids(index) != ["a", "b", "c"]:  # the events may come as two updates
            kind, stats = events.get(timeout=DEADLINE_S)
        assert kind == "update" and _ids(index) == ["a", "b", "c"], stats
    finally:
        stop.set()
        watcher.join(timeout=20)
    assert not watcher.is_alive(), "watch did not stop when asked"
