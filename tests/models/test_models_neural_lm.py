"""NeuralLM: same tokens as NGramLM, parity with a PyTorch forward, TBPTT, generation, CLI."""

import json
import math
import pickle

import numpy as np
import pytest
from click.testing import CliRunner

from nlpkit import corpora
from nlpkit.cli.main import cli, main
from nlpkit.models import NeuralLM
from nlpkit.models.neural_lm import BOS_ID
from nlpkit.ngram.lm import NGramLM

TOY = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat ate the fish",
    "the dog ate a bone",
    "a bird sat on a tree",
] * 8


@pytest.fixture(scope="module")
def kjv():
    return corpora.load("kjv", "train")[:400], corpora.load("kjv", "test")[:150]


@pytest.fixture(scope="module")
def small_lm(kjv):
    train, _ = kjv
    return NeuralLM(
        embedding_dim=16, hidden_size=24, max_epochs=1, random_state=0, early_stopping=False
    ).fit(train)


def test_perplexity_counts_the_same_tokens_as_ngram(kjv, small_lm):
    train, test = kjv
    ng = NGramLM(order=3).fit(train)
    a = ng.scorer_.perplexity_stats(test)
    b = small_lm.perplexity_stats(test)
    assert (b.sentences, b.words, b.oovs) == (a.sentences, a.words, a.oovs)
    assert b.oovs > 0  # the test really has OOVs to leave out
    lp = small_lm.token_logprobs(test)
    d = b.words - b.oovs + b.sentences
    assert sum(int(np.isfinite(v).sum()) for v in lp) == d
    assert small_lm.perplexity(test) == pytest.approx(10 ** (-b.logprob / d), rel=1e-9)
    assert small_lm.score(test) == pytest.approx(b.logprob / d)


def test_token_logprobs_match_pytorch(small_lm, kjv):
    """The same weights in torch.nn.{Embedding, LSTM, Linear} give the same log-probabilities."""
    import torch
    _, test = kjv
    sents = test[:5]
    net = small_lm.net_
    emb = torch.nn.Embedding(*net.embedding.weight.shape)
    lstm = torch.nn.LSTM(16, 24, batch_first=True)
    out = torch.nn.Linear(24, net.output.weight.shape[0])
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(net.embedding.weight.numpy()))
        for name, p in lstm.named_parameters():
            p.copy_(torch.from_numpy(net.body.state_dict()[name]))
        out.weight.copy_(torch.from_numpy(net.output.weight.numpy()))
        out.bias.copy_(torch.from_numpy(net.output.bias.numpy()))
        ours = small_lm.token_logprobs(sents)
        for s, mine in zip(sents, ours):
            ids = [BOS_ID] + small_lm.vocab_.encode(s.split()).tolist()
            h, _ = lstm(emb(torch.tensor([ids])))
            logp = torch.log_softmax(out(h)[0], dim=-1).double().numpy()
            targets = ids[1:] + [3]
            ref = np.array([logp[i, t] for i, t in enumerate(targets)]) / math.log(10)
            ref[np.array(targets) == 1] = np.nan  # OOVs
            np.testing.assert_allclose(mine, ref, rtol=1e-4, atol=1e-5)


def test_chunked_state_carry_equals_whole_sequence(small_lm):
    """What truncated BPTT relies on: chunks with the state carried give the same forward."""
    net = small_lm.net_
    net.eval()
    ids = np.array([[BOS_ID, 5, 6, 7, 8, 9, 10, 11], [BOS_ID, 12, 13, 14, 0, 0, 0, 0]])
    lens = np.array([8, 4])
    whole, _ = net(ids, lens)
    state, parts = None, []
    for s in range(0, 8, 3):
        logits, state = net(ids[:, s : s + 3], np.clip(lens - s, 0, 3), state)
        parts.append(logits)
    chunked = np.concatenate(parts, axis=1)
    np.testing.assert_allclose(chunked[0], whole[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(chunked[1, :4], whole[1, :4], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "transformer"])
def test_cells_learn_toy_language(cell):
    lm = NeuralLM(
        cell=cell,
        embedding_dim=16,
        hidden_size=32,
        max_epochs=25,
        lr=0.01,
        bptt=3,
        batch_size=8,
        random_state=0,
        early_stopping=False,
        dropout=0.0,
    ).fit(TOY)
    # 5 sentences, each starting 'the' or 'a': a perfect model's perplexity is small
    assert lm.perplexity(TOY[:5]) < 2.2, lm.history_[-1]
    assert lm.history_[-1]["loss"] < lm.history_[0]["loss"] / 2


def test_generate():
    lm = NeuralLM(
        embedding_dim=16,
        hidden_size=32,
        max_epochs=25,
        lr=0.01,
        random_state=0,
        early_stopping=False,
        dropout=0.0,
    ).fit(TOY)
    assert lm.generate("a bird", 10, temperature=0) == "sat on a tree"
    assert lm.generate("a bird", 10, top_k=1) == "sat on a tree"  # top-1 sampling is greedy
    a = lm.generate("the", 8, temperature=1.0, random_state=3)
    assert a == lm.generate("the", 8, temperature=1.0, random_state=3)
    assert set(a.split()) <= set(" ".join(TOY).split())
    assert len(lm.generate("", 3, temperature=5.0, random_state=0).split()) <= 3
    with pytest.raises(ValueError, match="temperature"):
        lm.generate("the", 3, temperature=-1)


def test_early_stopping_and_pickle(kjv):
    train, test = kjv
    lm = NeuralLM(
        embedding_dim=16, hidden_size=16, max_epochs=2, random_state=0, validation_fraction=0.1
    ).fit(train)
    assert all("val_loss" in r for r in lm.history_)
    again = pickle.loads(pickle.dumps(lm))
    assert again.perplexity(test[:20]) == lm.perplexity(test[:20])


@pytest.mark.parametrize(
    "X, match",
    [
        ("just one string", "not a single string"),
        (["", "  "], "no sentences"),
        ([["a", 3]], r"X\[0\] must be a string or a list"),
    ],
)
def test_bad_input(X, match):
    with pytest.raises(ValueError, match=match):
        NeuralLM(max_epochs=1).fit(X)


def test_bad_params():
    with pytest.raises(ValueError, match="cell must be one of"):
        NeuralLM(cell="elman").fit(TOY)
    with pytest.raises(ValueError, match="bptt"):
        NeuralLM(bptt=0).fit(TOY)


def test_cli_train_ppl_generate(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(TOY) + "\n")
    model = tmp_path / "lm.pkl.gz"
    run = CliRunner().invoke
    r = run(
        cli,
        [
            "lm",
            "train",
            str(corpus),
            "-o",
            str(model),
            "--epochs",
            "25",
            "--embedding-dim",
            "16",
            "--hidden-size",
            "32",
            "--lr",
            "0.01",
            "--dropout",
            "0",
            "--batch-size",
            "8",
            "--validation-fraction",
            "0",
        ],
        catch_exceptions=False,
    )
    assert r.exit_code == 0 and "epoch 25: loss" in r.output
    r = run(
        cli, ["--quiet", "lm", "ppl", str(model), str(corpus), "--json"], catch_exceptions=False
    )
    st = json.loads(r.output)
    assert (st["sentences"], st["words"], st["oovs"]) == (40, 224, 0) and st["ppl"] < 2.2
    text = run(
        cli, ["--quiet", "lm", "ppl", str(model), str(corpus)], catch_exceptions=False
    ).output
    assert "ppl=" in text and "40 sentences" in text
    r = run(
        cli,
        ["--quiet", "lm", "generate", str(model), "--prompt", "a bird", "--temperature", "0"],
        catch_exceptions=False,
    )
    assert r.output.strip() == "a bird sat on a tree"
    r = run(
        cli,
        ["--quiet", "lm", "generate", str(model), "-n", "3", "--top-k", "3"],
        catch_exceptions=False,
    )
    assert len(r.output.strip().splitlines()) == 3
    with pytest.raises(SystemExit) as exc:
        main(["--quiet", "lm", "ppl", str(corpus), str(corpus)])
    assert exc.value.code == 1 and "not an nlpkit model file" in capsys.readouterr().err


@pytest.mark.parametrize("cell", ["lstm", "transformer"])
def test_tied_weights_share_one_parameter_and_learn(cell):
    """tie_weights: the output layer's weight is the embedding (one Parameter in the optimizer,
    both names in the state dict, as PyTorch lists them); the model still learns."""
    kw = dict(cell=cell, embedding_dim=16, hidden_size=16 if cell == "lstm" else 32,
              max_epochs=25, lr=0.01, bptt=3, batch_size=8, random_state=0,
              early_stopping=False, dropout=0.0)
    lm = NeuralLM(tie_weights=True, **kw).fit(TOY)
    net = lm.net_
    assert net.output.weight is net.embedding.weight
    assert len(net.parameters()) == len(NeuralLM(**kw).fit(TOY[:2]).net_.parameters()) - 1
    sd = net.state_dict()
    np.testing.assert_array_equal(sd["output.weight"], sd["embedding.weight"])
    assert lm.perplexity(TOY[:5]) < 2.5, lm.history_[-1]
    with pytest.raises(ValueError, match="tie_weights needs"):
        NeuralLM(tie_weights=True, **{**kw, "cell": "lstm", "hidden_size": 8}).fit(TOY)
