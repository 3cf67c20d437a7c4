"""The neural estimators on device='cuda' (Numba's CUDA simulator) against the same fit on the CPU.

Same data, sizes and random_state on both devices: the epoch losses, the
predictions and the fitted parameters must agree to float32 rounding.  Data and
sizes are tiny, one or two training steps, since the simulator runs every GPU
thread in Python (a matrix product there costs about 0.1 s).
"""
import functools
import pickle

import numpy as np
import pytest

from nlpkit import backend
from nlpkit.models import NeuralLM, Seq2Seq, SequenceTagger, TextClassifier, data
from nlpkit.models.base import compute
from nlpkit.models.seq2seq import BOS_ID, AdditiveAttention
from nlpkit import nn
from nlpkit.backend import is_device_array

pytestmark = pytest.mark.cuda
TOL = 1e-4  # float32, as for the nn layers' CUDA twins

DOCS = ["the cat", "a dog ran", "the cat likes milk", "dogs bark"]  # "the cat": a known pair
LABELS = [0, 1, 0, 1]
SMALL = dict(embedding_dim=4, hidden_size=2, max_epochs=1, batch_size=2, early_stopping=False,
             random_state=0, dropout=0.2)


def _rel_err(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    return float(np.abs(got - want).max(initial=0.0) / max(np.abs(want).max(initial=0.0), 1e-12))


def _same_fit(cpu, gpu):
    """Epoch losses, accuracies and every parameter agree."""
    assert len(cpu.history_) == len(gpu.history_)
    for a, b in zip(cpu.history_, gpu.history_):
        assert b["loss"] == pytest.approx(a["loss"], rel=TOL)
        assert b["accuracy"] == a["accuracy"]
        if "val_loss" in a:
            assert b["val_loss"] == pytest.approx(a["val_loss"], rel=TOL)
    want, got = cpu.net_.state_dict(), gpu.net_.state_dict()
    assert want.keys() == got.keys()
    for name in want:
        assert _rel_err(got[name], want[name]) < TOL, name


def _watch_params(model):
    """A fit callback recording, at every batch, whether all parameters are device arrays."""
    seen = []

    def callback(info):
        if info["event"] == "batch":
            seen.append(all(is_device_array(p.data) for p in model.net_.parameters()))

    return seen, callback


@functools.lru_cache(maxsize=None)
def _classifiers(encoder, **params):
    """(CPU fit, CUDA fit, the device flags seen in the CUDA fit's batches), fitted once."""
    kw = {**SMALL, "encoder": encoder, **params}
    cpu = TextClassifier(device="cpu", **kw).fit(DOCS, LABELS)
    gpu = TextClassifier(device="cuda", **kw)
    seen, callback = _watch_params(gpu)
    gpu.fit(DOCS, LABELS, callback=callback)
    return cpu, gpu, seen


# the CNN's parallel convolutions under max+mean pooling with word-pair vectors and
# adversarial training, bilstm (the LSTM both ways,
# joined), the transformer (SGD: Adam would turn the float noise of the key bias, whose
# true gradient is zero under softmax, into full-size steps); gru, rnn and lstm come below
@pytest.mark.parametrize("encoder, params", [
    ("cnn", {"pooling": "max+mean", "word_ngrams": 2, "adversarial": 0.5}),
    ("bilstm", {}),
    ("transformer", {"optimizer": "sgd", "lr": 0.1}),
])
def test_classifier_on_cuda_matches_cpu(encoder, params):
    cpu, gpu, seen = _classifiers(encoder, **params)
    _same_fit(cpu, gpu)
    assert seen and all(seen)  # parameters stayed on the device for the whole fit
    assert all(isinstance(p.data, np.ndarray) for p in gpu.net_.parameters())  # back on the host
    assert _rel_err(gpu.predict_proba(DOCS[:2]), cpu.predict_proba(DOCS[:2])) < TOL


def test_fitted_on_cuda_pickles_and_predicts_on_the_cpu():
    cpu, gpu, _ = _classifiers("bilstm")
    clone = pickle.loads(pickle.dumps(gpu))
    clone.set_params(device="cpu")
    assert _rel_err(clone.predict_proba(DOCS[:2]), cpu.predict_proba(DOCS[:2])) < TOL


def test_partial_fit_moves_the_optimizer_state_between_devices():
    # the Adam moments go to the device and back with the network on every call, and the
    # optimizer follows the parameter arrays that a call on the device replaces
    kw = {**SMALL, "encoder": "gru", "batch_size": 4}
    cpu = TextClassifier(device="cpu", **kw).partial_fit(DOCS, LABELS, classes=[0, 1])
    mixed = TextClassifier(device="cuda", **kw).partial_fit(DOCS, LABELS, classes=[0, 1])
    for m in (cpu, mixed):
        m.predict_proba(DOCS[:1])
    for device in ("cpu", "cuda"):
        mixed.set_params(device=device)
        for m in (cpu, mixed):
            m.partial_fit(DOCS, LABELS)
    _same_fit(cpu, mixed)
    assert isinstance(mixed._optimizer.state[0]["exp_avg"], np.ndarray)


def test_tagger_on_cuda_matches_cpu():
    # the character CNN: its word vectors are gathered per token, joined to the word
    # embeddings, and their gradient split off and scattered back
    X = [d.split() for d in DOCS]
    y = [["D", "N"], ["D", "N", "V"], ["D", "N", "V", "N"], ["N", "V"]]
    kw = {**SMALL, "encoder": "rnn", "char_dim": 3, "char_filters": 2, "batch_size": 4}
    cpu = SequenceTagger(device="cpu", **kw).fit(X, y)
    gpu = SequenceTagger(device="cuda", **kw)
    seen, callback = _watch_params(gpu)
    gpu.fit(X, y, callback=callback)
    _same_fit(cpu, gpu)
    assert seen and all(seen)
    for p, q in zip(gpu.predict_proba(X[:2]), cpu.predict_proba(X[:2])):
        assert _rel_err(p, q) < TOL


def test_language_model_on_cuda_matches_cpu():
    # bptt=2: the state crosses chunks on the device; early stopping validates on the
    # device and loads its kept weights back into the device arrays
    kw = {**SMALL, "bptt": 2, "batch_size": 4, "early_stopping": True,
          "validation_fraction": 0.25}
    cpu = NeuralLM(device="cpu", **kw).fit(DOCS)
    gpu = NeuralLM(device="cuda", **kw).fit(DOCS)
    _same_fit(cpu, gpu)
    assert gpu.perplexity(DOCS[:2]) == pytest.approx(cpu.perplexity(DOCS[:2]), rel=TOL)
    assert gpu.generate("the", max_tokens=1, temperature=0) == cpu.generate(
        "the", max_tokens=1, temperature=0)


def _first_step_probs(model, source):
    """The decoder's probabilities of the first output token for ``source``."""
    x, xl = data.pad_batch(data.encode(model.src_vocab_, [source.split()]))
    with compute(None, model.device, model):
        mem, state, pad = model._start(x, xl)
        bos = np.full((1, 1), BOS_ID, np.int64)
        logits, _ = model.net_.decode_step(bos, np.ones(1, np.int64), state, mem, pad)
        return np.exp(model._log_probs(logits))  # 0 for the banned tokens (log-prob -inf)


@pytest.mark.parametrize("attention", ["dot", "additive"])
def test_seq2seq_on_cuda_matches_cpu(attention):
    # SGD for the attention's key bias, as for the transformer above; beam search picks
    # the hypotheses' decoder states on the device
    X, y = ["a b", "b c a", "c a", "a b b"], ["b a", "a c b", "a c", "b b a"]
    kw = {**SMALL, "hidden_size": 4, "batch_size": 4, "optimizer": "sgd", "lr": 0.5,
          "max_output_length": 2, "beam_size": 2, "attention": attention}
    cpu = Seq2Seq(device="cpu", **kw).fit(X, y)
    gpu = Seq2Seq(device="cuda", **kw).fit(X, y)
    _same_fit(cpu, gpu)
    assert _rel_err(_first_step_probs(gpu, X[1]), _first_step_probs(cpu, X[1])) < TOL
    assert gpu.predict(X[:1]) == cpu.predict(X[:1])
    assert gpu.predict(X[:1], beam_size=1) == cpu.predict(X[:1], beam_size=1)


@pytest.mark.parametrize("dtype, tol", [(np.float32, TOL), (np.float64, 1e-10)])
def test_additive_attention_on_device_arrays_matches_numpy(dtype, tol):
    # padded keys in the second row; every gradient (inputs, v, both projections)
    rng = np.random.default_rng(0)
    q, k, g = (rng.normal(size=s).astype(dtype) for s in [(2, 3, 4), (2, 5, 4), (2, 3, 4)])
    pad = np.zeros((2, 5), bool)
    pad[1, 3:] = True
    results = []
    for device in ("cpu", "cuda"):
        att = AdditiveAttention(4, 6, dtype=dtype, rng=0).to(device)
        qt, kt = (nn.tensor(a, requires_grad=True, device=device) for a in (q, k))
        out = att(qt, kt, pad)
        (out * g).sum().backward()
        grads = [qt.grad, kt.grad] + [p.grad for p in att.parameters()]
        assert all(is_device_array(x) == (device == "cuda") for x in grads)
        results.append([out.numpy()] + [backend.to_host(x) for x in grads])
    for a, b in zip(results[1], results[0]):
        assert np.abs(b).max() > 0
        assert _rel_err(a, b) < tol
    assert np.all(results[1][2][1, 3:] == 0)  # padded keys get nothing


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 7)])
def test_normalize_on_device_matches_numpy(shape):
    """The adversarial step's per-document scaling: F.normalize on the device."""
    from nlpkit.nn import functional as F

    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    x[1] = 0  # an all-zero row (a document with no gradient) stays zero
    want = F.normalize(x.reshape(shape[0], -1), dim=1).numpy() * 0.7
    got = F.normalize(nn.tensor(x, device="cuda").reshape(shape[0], -1), dim=1) * 0.7
    assert got.device == "cuda"
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(want, axis=1), [0.7, 0.0, 0.7][: shape[0]],
                               rtol=1e-5)


def test_cuda_without_a_gpu_fails_with_the_backend_message(monkeypatch):
    monkeypatch.setattr(backend, "_cuda_probe", lambda: (None, "no CUDA GPU was found"))
    with pytest.raises(backend.DeviceError, match="device 'cuda' is not available: no CUDA GPU"):
        TextClassifier(device="cuda", **SMALL).fit(DOCS, LABELS)


def test_cli_device_cuda_trains_the_same_model(tmp_path):
    """``nlpkit --device cuda classify train`` runs on the device and writes the model the
    CPU would have written."""
    from click.testing import CliRunner

    from nlpkit.cli.main import cli
    from nlpkit.models.io import load_model

    train = tmp_path / "train.tsv"
    train.write_text("".join(f"{lab}\t{doc}\n" for doc, lab in zip(DOCS, LABELS)))
    probs = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / f"{device}.pkl.gz"
        r = CliRunner().invoke(cli, [
            "--quiet", "--device", device, "classify", "train", str(train), "-o", str(out),
            "--encoder", "cnn", "--embedding-dim", "4", "--hidden-size", "2", "--epochs", "1",
            "--batch-size", "2", "--validation-fraction", "0", "--seed", "0"])
        assert r.exit_code == 0, r.output
        clf = load_model(out, kind="TextClassifier")
        assert clf.device == device  # the global option reached the estimator
        probs[device] = clf.set_params(device="cpu").predict_proba(DOCS)
    assert _rel_err(probs["cuda"], probs["cpu"]) < TOL
