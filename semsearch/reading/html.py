"""HTML pages (*.html, *.htm): the main text and the title, extracted by trafilatura (boilerplate such as
menus, footers and link lists left out); headings open sections. The document's text is the extracted text."""

from __future__ import annotations

from collections.abc import Iterator

from semsearch.reading.base import Format, ReadOptions, SourceFile, read_text
from semsearch.reading.dates import normalise_date
from semsearch.reading.document import Document
from semsearch.reading.markdown import lines_document
from semsearch.reading.messages import warn

# Elements of trafilatura's XML that hold one block of text each; "head" is a heading.
_BLOCKS = ("head", "p", "item", "cell", "quote", "code")
_SKIPPED = ("script", "style", "noscript", "template")


def _clean(text: str) -> list[str]:
    """Lines of `text` with runs of whitespace made single spaces, blank lines dropped."""
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def _main_lines(body) -> list[tuple[str, str]]:
    """(kind, line) pairs from trafilatura's body element; nested blocks are read with their parent."""
    lines: list[tuple[str, str]] = []
    done: set = set()
    for element in body.iter(*_BLOCKS):
        if any(a in done for a in element.iterancestors()):
            continue
        done.add(element)
        kind = (element.get("rend") or "h2") if element.tag == "head" else "text"
        kind = kind if kind in ("h1", "h2", "h3", "h4", "h5", "h6", "text") else "h2"
        lines.extend((kind, line) for line in _clean("".join(element.itertext())))
    return lines


def _fallback(html: str) -> tuple[str | None, list[tuple[str, str]]]:
    """Title and text lines of a page too small for trafilatura's main-text heuristics: every text line."""
    import lxml.html

    tree = lxml.html.document_fromstring(html)
    for element in tree.iter(*_SKIPPED):
        element.drop_tree()
    title = " ".join((tree.findtext(".//title") or "").split()) or None
    body = tree.find(".//body")
    return title, [("text", line) for line in _clean((body if body is not None else tree).text_content())]


def extract(html: str) -> tuple[str | None, str | None, str | None, list[tuple[str, str]]]:
    """(title, date, url, lines) of a page; lines as in `markdown.lines_document`."""
    import trafilatura

    found = trafilatura.bare_extraction(
        html,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        include_images=False,
        favor_recall=True,
        date_extraction_params={"extensive_search": False},
    )
    if found is None or found.body is None:
        title, lines = _fallback(html)
        return title, None, None, lines
    return found.title, normalise_date(found.date), found.url, _main_lines(found.body)


def read(source: SourceFile, options: ReadOptions) -> Iterator[Document]:
    """The page as one document; its id is the relative path without `.html`/`.htm`."""
    html = read_text(source, options)
    if html is None:
        return
    try:
        title, date, url, lines = extract(html)
    except Exception as e:  # a parser failure on one page must not stop the rest
        warn(source.where, f"could not be parsed as HTML ({type(e).__name__}: {e}), so it is skipped: check the file")
        return
    if not lines:
        warn(source.where, "the page holds no text (no main text found), so it is skipped: check it is an article page")
        return
    if title and lines[0][1] != title:
        lines.insert(0, ("h1", title))
    yield lines_document(source.doc_id, lines, source.where, title, date=date, url=url)


FORMAT = Format("html", (".html", ".htm"), read)
