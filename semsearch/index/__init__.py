"""The index store on disk: commits, segments, delete marks, ANN and lexical postings, and their checks."""
