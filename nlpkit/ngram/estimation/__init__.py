"""Estimation: Good-Turing/Katz (SRILM) and modified Kneser-Ney (lmplz) from counts."""
