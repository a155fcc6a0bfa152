"""Ingest and sync: turning a corpus (or API calls) into commits of the index store.

A build (`builder`) opens its index (`target`), plans what to read, re-embed and delete (`plan`, over
`changes`, `file_states`, `sources`), reads the planned files (`folder`) into the read → chunk → embed →
commit pipeline (`pipeline`, `chunk_terms`), and returns its report (`report`, which also holds the events
it emits); `watch` follows a folder. The store it writes lives in `semsearch.index`; nothing there imports
this package.
"""
