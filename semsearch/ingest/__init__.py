"""Ingest and sync: turning a corpus (or API calls) into commits of the index store.

It plans what to read, re-embed and delete (`changes`, `restamps`, `record_memo`, `sources`), runs the
read → chunk → embed pipeline (`builder`, `chunk_terms`), and follows a folder (`watch`). The store it
writes lives in `semsearch.index`; nothing there imports this package.
"""
