"""Word embeddings: word2vec (SGNS/CBOW) and fastText subword training, KeyedVectors, formats."""
