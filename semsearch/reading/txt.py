"""Plain-text articles (*.txt), the seed layout included: an optional ` date YYYY-MM` prefix, one line a block."""

from __future__ import annotations

from collections.abc import Iterator

from semsearch.reading.base import Format, ReadOptions, SourceFile, read_text
from semsearch.reading.document import Document
from semsearch.reading.lines import text_document


def read(source: SourceFile, options: ReadOptions) -> Iterator[Document]:
    """The file as one document; its id is the relative path without `.txt`."""
    text = read_text(source, options)
    if text is not None:
        yield text_document(source.doc_id, text, source.where)


FORMAT = Format("txt", (".txt",), read)
