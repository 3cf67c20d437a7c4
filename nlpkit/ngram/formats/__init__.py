"""Formats: ARPA (SRILM's and lmplz's printing, the reader), SRILM count files, nlpkit's binary models."""
