import numpy as np
import pytest

from nlpkit.errors import NlpkitError
from nlpkit.ngram.formats.arpa_reader import read_arpa
from nlpkit.ngram.editing.mix import token_logprobs
from nlpkit.ngram.editing.filter import filter_vocab


def test_filtered_model_scores_in_vocabulary_text_as_the_full_model(data_dir):
    full = read_arpa(data_dir / "ngram" / "kjv" / "lmplz.kn3.arpa.gz")
    lines = (data_dir / "ngram" / "kjv" / "test.txt").read_text().splitlines()[:100]
    words = sorted({w for line in lines for w in line.split()})
    small = filter_vocab(full, words)
    assert all(a < b for a, b in zip(small.counts(), full.counts()))
    allowed = set(words) | {"<s>", "</s>", "<unk>"}
    assert all(small.vocab[i] in allowed for g in small.ngrams for i in np.unique(g))
    sentences = [line.split() for line in lines]
    assert np.array_equal(token_logprobs(small, sentences)[0], token_logprobs(full, sentences)[0])
    with pytest.raises(NlpkitError, match="none of the vocabulary"):
        filter_vocab(_without_specials(full), ["zzz"])


def _without_specials(model):
    from nlpkit.ngram.backoff import BackoffModel
    keep = ~np.isin(model.ngrams[0][:, 0], [model.word_id(w) for w in ("<s>", "</s>", "<unk>")])
    vocab = [w if w not in ("<s>", "</s>", "<unk>") else w + "_" for w in model.vocab]
    return BackoffModel(vocab, [model.ngrams[0][keep]], [model.logprob[0][keep]],
                        [model.backoff[0][keep]], [model.has_backoff[0][keep]])
