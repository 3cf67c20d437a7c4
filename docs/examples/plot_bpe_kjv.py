"""
A BPE tokenizer and its ``tokenizer.json``
==========================================

Learn byte-pair-encoding merges from the bundled KJV verses, encode and decode a sentence,
and save the tokenizer as Hugging Face's ``tokenizer.json``, which nlpkit and the
``tokenizers`` library both read.
"""
import os
import tempfile

import nlpkit
from nlpkit import BPE

verses = nlpkit.corpora.load("kjv", "test")
tok = BPE(vocab_size=1000).fit(verses)

sentence = "and the spirit of god moved upon the face of the waters"
ids = tok.encode(sentence)
print(ids)
print(tok.encode(sentence, as_tokens=True))
print(tok.decode(ids))

# %%
# Save and load: the file is a ``tokenizer.json``.

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "tokenizer.json")
    tok.save(path)
    again = BPE.load(path)
    print("same ids:", list(again.encode(sentence)) == list(ids))
