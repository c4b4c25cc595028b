"""Photos: decoding, the embedding model and its precision, labels and categories, and the
indexer that turns folders of files into rows."""
