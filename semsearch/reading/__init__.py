"""Reading documents: files in (txt, Markdown, HTML, JSONL, CSV), documents with offsets, dates and metadata out.

    for doc in iter_documents("archive/", FieldMap(id="nid")):
        ...

Problems with the input are `ReadWarning`s, one line each, naming the file and the line or record.
"""

from semsearch.reading.base import DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_LINE_CHARS, Format, ReadOptions, SourceFile
from semsearch.reading.dates import normalise_date
from semsearch.reading.document import Block, Document
from semsearch.reading.fields import FieldMap
from semsearch.reading.messages import DuplicateId, ReadStopped, ReadWarning
from semsearch.reading.records import record_document
from semsearch.reading.registry import FORMATS, READERS, reader_for
from semsearch.reading.sources import dedupe, iter_documents, list_sources, read_source

__all__ = [
    "DEFAULT_MAX_FILE_SIZE",
    "DEFAULT_MAX_LINE_CHARS",
    "FORMATS",
    "READERS",
    "Block",
    "Document",
    "FieldMap",
    "Format",
    "ReadOptions",
    "DuplicateId",
    "ReadStopped",
    "ReadWarning",
    "SourceFile",
    "dedupe",
    "iter_documents",
    "list_sources",
    "normalise_date",
    "read_source",
    "reader_for",
    "record_document",
]
