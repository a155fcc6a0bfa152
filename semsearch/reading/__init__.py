"""Reading documents: files in, decoded documents with offsets, dates and metadata out."""
