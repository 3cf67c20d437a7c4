"""Reading and encoding: text in, word ids out (SRILM's and lmplz's tokenizing rules)."""
