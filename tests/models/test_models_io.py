"""Model files (format 2): every estimator round-trips; the weights load into the equivalent
PyTorch module; hostile files (pickles anywhere, zip bombs, lying safetensors headers, JSON
of the wrong shape, newer formats, other kinds) give one clear error and run nothing."""
import gzip
import json
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
from nlpkit import nn
from nlpkit.cli.main import main
from nlpkit.errors import InputFileError
from nlpkit.models import MaskedLM, NeuralLM, Seq2Seq, SequenceTagger, TextClassifier
from nlpkit.models.io import is_model_file, load_model, save_model

X = ["a b c", "b c d", "c d e", "x y z", "y z w", "z w v"] * 3
Y = ["ab", "ab", "ab", "xy", "xy", "xy"] * 3
SMALL = dict(embedding_dim=8, hidden_size=8, max_epochs=1, random_state=0)


@pytest.fixture(scope="module")
def models():
    words = [s.split() for s in X]
    return {
        "lstm": TextClassifier(**SMALL).fit(X, Y),
        "transformer": TextClassifier(encoder="transformer", embedding_dim=8, hidden_size=16,
                                      max_epochs=1, random_state=0).fit(X, Y),
        "tagger": SequenceTagger(char_dim=4, char_filters=4, **SMALL).fit(
            words, [["A", "B", "C"]] * len(X)),
        "lm": NeuralLM(**SMALL).fit(X),
        "mlm": MaskedLM(embedding_dim=8, hidden_size=16, num_layers=1, nhead=2, max_epochs=1,
                        random_state=0).fit(X),
        "s2s": Seq2Seq(encoder="transformer", decoder="transformer", share_embeddings=True,
                       tie_output=True, **SMALL).fit(X, X),
    }


@pytest.fixture(scope="module")
def clf_file(models, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "clf.nlpkit"
    save_model(models["lstm"], path)
    return path


def outputs(name, model):
    if name in ("lstm", "transformer"):
        return model.predict_proba(X)
    if name == "tagger":
        return model.predict([s.split() for s in X])
    if name == "lm":
        return model.perplexity(X)
    if name == "mlm":
        return model.score(X)
    return model.predict(X[:3])


@pytest.mark.parametrize("name", ["lstm", "transformer", "tagger", "lm", "mlm", "s2s"])
def test_round_trip(models, name, tmp_path):
    model = models[name]
    path = tmp_path / "m.nlpkit"
    save_model(model, path)
    assert is_model_file(path) and zipfile.is_zipfile(path)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["model.json", "weights.safetensors"]
        doc = json.loads(zf.read("model.json"))
    assert doc["format"] == "nlpkit-model" and doc["version"] == 2
    assert doc["kind"] == type(model).__name__
    assert doc["params"]["hidden_size"] == model.hidden_size
    back = load_model(path, kind=type(model).__name__)
    assert back.get_params().keys() == model.get_params().keys()
    assert back.history_ == model.history_ and back.n_epochs_ == model.n_epochs_
    a, b = outputs(name, model), outputs(name, back)
    if isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b
    for k, v in model.net_.state_dict().items():
        np.testing.assert_array_equal(back.net_.state_dict()[k], v)


def test_shared_vocabulary_stays_shared(models, tmp_path):
    save_model(models["s2s"], tmp_path / "s.nlpkit")
    back = load_model(tmp_path / "s.nlpkit")
    assert back.src_vocab_ is back.tgt_vocab_


def test_pretrained_classifier_round_trip(models, tmp_path):
    """A classifier fine-tuned from a saved MaskedLM rebuilds its pretrained encoder."""
    save_model(models["mlm"], tmp_path / "mlm.nlpkit")
    clf = TextClassifier(pretrained=str(tmp_path / "mlm.nlpkit"), freeze_layers=1,
                         max_epochs=1, random_state=0).fit(X, Y)
    save_model(clf, tmp_path / "clf.nlpkit")
    back = load_model(tmp_path / "clf.nlpkit")
    assert back.pretrained_encoder_ == clf.pretrained_encoder_
    frozen = [n for n, p in clf.net_.named_parameters() if not p.requires_grad]
    assert frozen and frozen == [n for n, p in back.net_.named_parameters()
                                 if not p.requires_grad]
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))


def test_a_tokenizer_path_is_saved_as_the_tokenizer(tmp_path):
    from nlpkit.text.subword import BPE

    tok = BPE(vocab_size=40).fit(X * 3)
    tok.save(tmp_path / "tok.json")
    clf = TextClassifier(tokenizer=str(tmp_path / "tok.json"), **SMALL).fit(X, Y)
    save_model(clf, tmp_path / "clf.nlpkit")
    os.remove(tmp_path / "tok.json")  # the model file stands alone
    back = load_model(tmp_path / "clf.nlpkit")
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))


# ------------------------------------------------------------------ PyTorch reads the weights
def test_weights_load_into_torch_lstm_classifier(models, tmp_path):
    import torch  # the test extra has it: a missing peer fails, it does not skip
    from safetensors.torch import load_file

    clf = models["lstm"]
    save_model(clf, tmp_path / "c.nlpkit")
    with zipfile.ZipFile(tmp_path / "c.nlpkit") as zf:
        zf.extract("weights.safetensors", tmp_path)
    state = load_file(str(tmp_path / "weights.safetensors"))

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(8, 8, batch_first=True)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(len(clf.vocab_), 8, padding_idx=0)
            self.encoder = Encoder()
            self.output = torch.nn.Linear(8, 2)

        def forward(self, ids):
            h, _ = self.encoder.rnn(self.embedding(ids))
            return self.output(h.max(dim=1).values)

    net = Net()
    net.load_state_dict(state)  # strict: every name and shape is PyTorch's
    ids = clf.vocab_.encode("a b c".split()).astype(np.int64)[None]
    with torch.no_grad():
        logits = net(torch.tensor(ids)).numpy()
    expected = clf.predict_proba(["a b c"])
    got = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_weights_load_into_torch_transformer(models, tmp_path):
    import torch  # the test extra has it: a missing peer fails, it does not skip
    from safetensors.torch import load_file

    clf = models["transformer"]
    save_model(clf, tmp_path / "t.nlpkit")
    with zipfile.ZipFile(tmp_path / "t.nlpkit") as zf:
        state = load_file(zf.extract("weights.safetensors", tmp_path))
    net = torch.nn.Module()
    net.embedding = torch.nn.Embedding(len(clf.vocab_), 8)
    net.encoder = torch.nn.Module()
    net.encoder.layer0 = torch.nn.TransformerEncoderLayer(8, clf.net_.encoder.layer0
                                                          .self_attn.num_heads, 16,
                                                          batch_first=True)
    net.output = torch.nn.Linear(8, 2)
    net.load_state_dict(state)
    for k, v in clf.net_.state_dict().items():
        np.testing.assert_array_equal(net.state_dict()[k].numpy(), v)


def test_module_save_is_a_model_file_torch_reads(tmp_path):
    import torch  # the test extra has it: a missing peer fails, it does not skip
    from safetensors.torch import load_file

    lstm = nn.LSTM(3, 5, num_layers=2, rng=0)
    lstm.save(tmp_path / "lstm.nlpkit")
    with zipfile.ZipFile(tmp_path / "lstm.nlpkit") as zf:
        state = load_file(zf.extract("weights.safetensors", tmp_path))
    torch.nn.LSTM(3, 5, num_layers=2).load_state_dict(state)
    other = nn.LSTM(3, 5, num_layers=2, rng=1).load(tmp_path / "lstm.nlpkit")
    for k, v in lstm.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[k], v)
    with pytest.raises(InputFileError, match="holds a LSTM, not a GRU"):
        nn.GRU(3, 5, num_layers=2).load(tmp_path / "lstm.nlpkit")


# ------------------------------------------------------------------ hostile files
class Touch:
    """Unpickling this creates a file: what a hostile pickle could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def rewrite(src, dst, replace=None, extra=None, drop=()):
    """A copy of the model file ``src`` with members replaced, added or dropped."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = (replace or {}).get(info.filename, zin.read(info.filename))
            zout.writestr(info.filename, data, compress_type=info.compress_type)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    return dst


def edit_json(src, dst, edit):
    with zipfile.ZipFile(src) as zf:
        doc = json.loads(zf.read("model.json"))
    edit(doc)
    return rewrite(src, dst, {"model.json": json.dumps(doc)})


def run_cli(args, capsys):
    """``nlpkit ARGS`` as the console runs it: (exit code, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main(["--quiet", *args])
    return exc.value.code, capsys.readouterr().err


def expect_error(path, match, kind="TextClassifier"):
    with pytest.raises(InputFileError, match=match) as info:
        load_model(path, kind=kind)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("where", ["whole", "gzipped", "model.json", "weights.safetensors"])
def test_pickles_run_nothing(clf_file, tmp_path, where, capsys):
    """The acceptance test: a pickle that would create a file, as the whole file (a model
    file from before format 2, plain or gzipped) or as either member, is refused by load()
    and by the CLI, and the file is never created."""
    marker = tmp_path / "marker"
    payload = pickle.dumps(Touch(marker))
    path = tmp_path / "hostile.nlpkit"
    if where == "whole":
        path.write_bytes(payload)
        match = "from before format 2 .* retrain it"
    elif where == "gzipped":
        path.write_bytes(gzip.compress(payload))
        match = "from before format 2"
    else:
        rewrite(clf_file, path, {where: payload})
        match = f"{where} is a pickle"
    expect_error(path, match)
    code, err = run_cli(["classify", "predict", str(path), "a b c"], capsys)
    err = err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("Error:") and str(path) in err[0]
    assert not marker.exists()
    # a pickle given as pretrained= is not read as word vectors either
    with pytest.raises(InputFileError):
        TextClassifier(pretrained=str(path), **SMALL).fit(X, Y)
    assert not marker.exists()


def test_old_model_files_are_refused_with_a_reason(tmp_path):
    path = tmp_path / "old.pkl"
    path.write_bytes(pickle.dumps({"format": "nlpkit-model", "version": 1, "model": None}))
    assert is_model_file(path)
    expect_error(path, "an nlpkit model file from before format 2 \\(a pickle, which can run "
                 "code when loaded\\); nlpkit no longer reads those: retrain it")


def test_not_a_model_file(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("2 3\na 1 2 3\nb 4 5 6\n")
    assert not is_model_file(path)
    expect_error(path, "not an nlpkit model file")
    expect_error(tmp_path / "missing", "no such file")
    expect_error(tmp_path, "is a directory")


def declare_size(path, member, size):
    """Patch the uncompressed size ``member`` declares (central directory and local header),
    as a zip bomb's author would."""
    data = bytearray(path.read_bytes())
    for sig, name_at, name_start, size_at in ((b"PK\x01\x02", 28, 46, 24),
                                              (b"PK\x03\x04", 26, 30, 22)):
        pos = data.find(sig)
        while pos >= 0:
            n = struct.unpack("<H", bytes(data[pos + name_at:pos + name_at + 2]))[0]
            if data[pos + name_start:pos + name_start + n] == member.encode():
                struct.pack_into("<I", data, pos + size_at, size)
            pos = data.find(sig, pos + 4)
    path.write_bytes(bytes(data))
    return path


def test_zip_bombs_are_refused_before_reading(clf_file, tmp_path):
    def copy(name):
        return rewrite(clf_file, tmp_path / name)

    # sizes from the central directory, checked before a byte is inflated
    expect_error(declare_size(copy("big.nlpkit"), "model.json", 0xFFFFFFF0),
                 "more than the limit")
    expect_error(declare_size(copy("ratio.nlpkit"), "model.json", 200 << 20), "zip bomb")
    expect_error(declare_size(copy("stored.nlpkit"), "weights.safetensors", 1 << 30),
                 "zip bomb|impossible")
    # more members, or others than the two
    many = rewrite(clf_file, tmp_path / "many.nlpkit", extra={f"x{i}": b"" for i in range(1000)})
    expect_error(many, "the archive holds 1002 members")
    expect_error(rewrite(clf_file, tmp_path / "drop.nlpkit", drop=("model.json",)),
                 "the archive holds")


def test_a_member_is_never_inflated_past_its_declared_size(clf_file, tmp_path):
    """A deflated member whose data inflates to more than it declares stops there."""
    path = tmp_path / "inflates.nlpkit"
    with zipfile.ZipFile(clf_file) as zin, zipfile.ZipFile(path, "w") as zout:
        zout.writestr("weights.safetensors", zin.read("weights.safetensors"))
        zout.writestr("model.json", b"{" + b" " * 100_000 + b"}",
                      compress_type=zipfile.ZIP_DEFLATED)
    expect_error(declare_size(path, "model.json", 1000),
                 "more data than its declared 1000 bytes|damaged")


def safetensors_with(header: dict, data: bytes = b"", n=None):
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head) if n is None else n) + head + data


@pytest.mark.parametrize("weights, match", [
    (b"\x01", "too short"),
    (struct.pack("<Q", 1 << 62) + b"{}", "a header of"),
    (safetensors_with({}, n=10**6), "a header of"),
    (safetensors_with({"w": {"dtype": "F32", "shape": [10**12, 10**12],
                             "data_offsets": [0, 16]}}, b"\0" * 16), "shape"),
    (safetensors_with({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 16]}},
                      b"\0" * 16), "needs 64 bytes"),
    (safetensors_with({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 10**9]}},
                      b"\0" * 16), "data_offsets"),
    (safetensors_with({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}},
                      b"\0" * 16), "shape"),
    (safetensors_with({"w": {"dtype": "PY", "shape": [4], "data_offsets": [0, 16]}},
                      b"\0" * 16), "dtype"),
    (safetensors_with({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                       "v": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}},
                      b"\0" * 16), "overlap"),
    (safetensors_with({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}},
                      b"\0" * 16), "not a size any stored weight has"),
])
def test_lying_safetensors_headers(clf_file, tmp_path, weights, match):
    path = rewrite(clf_file, tmp_path / "w.nlpkit", {"weights.safetensors": weights})
    expect_error(path, match)


def test_weights_of_another_network(models, clf_file, tmp_path):
    from safetensors.numpy import save

    state = models["lstm"].net_.state_dict()
    state.pop("output.bias")
    path = rewrite(clf_file, tmp_path / "w.nlpkit", {"weights.safetensors": save(state)})
    expect_error(path, "inconsistent model file: .*missing keys \\['output.bias'\\]")
    state = models["lstm"].net_.state_dict()
    state["output.bias"] = state["output.bias"].astype(np.float64)[:1]
    path = rewrite(clf_file, tmp_path / "v.nlpkit", {"weights.safetensors": save(state)})
    expect_error(path, "output.bias expected shape")


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.update(version=3), "written by a newer nlpkit \\(model format 3\\)"),
    (lambda d: d.update(version="2"), "version must be an integer"),
    (lambda d: d.update(format="other"), "not an nlpkit model file"),
    (lambda d: d.update(kind="NeuralLM"), "holds a NeuralLM, not a TextClassifier"),
    (lambda d: d.update(kind=7), "kind must be a string"),
    (lambda d: d.update(params=[]), "params must be an object"),
    (lambda d: d["params"].update(hidden_size="8"), "params.hidden_size must be an int >= 1, got .8."),
    (lambda d: d["params"].update(hidden_size=10**30),
     r"params.hidden_size must be an int >= 1, got 10{30} \(beyond 64-bit ints\)"),
    (lambda d: d["params"].update(num_layers=10**9), "params.num_layers .* out of range"),
    (lambda d: d["params"].update(lowercase=1), "params.lowercase must be True or False, got 1"),
    (lambda d: d["params"].update(bogus=1), "params.bogus is not a parameter"),
    (lambda d: d["params"].update(encoder="gru"), "inconsistent model file"),
    (lambda d: d["fitted"].update(vocab_=3), "fitted.vocab_ must be Vocabulary"),
    (lambda d: d["fitted"].update(vocab_={"$vocab": {"itos": [1], "counts": [1],
                                                     "specials": []}}), "itos must be"),
    (lambda d: d["fitted"].update(vocab_={"$pickle": "x"}), "unknown tag"),
    (lambda d: d["fitted"].pop("classes_"), "fitted.classes_ is missing"),
    (lambda d: d["fitted"].update(classes_={"$array": {"dtype": "object",
                                                       "values": [[1]]}}), "values must be"),
    (lambda d: d["fitted"].update(embedding_dim_=-1), "embedding_dim_ .* not a size"),
    (lambda d: d["fitted"].update(history_={"$float": "nan"}), "history_ must be list"),
    (lambda d: d["fitted"].update(pretrained_encoder_={"$map": {"kind": "lstm"}}),
     "pretrained_encoder_"),
])
def test_json_of_the_wrong_shape(clf_file, tmp_path, edit, match):
    expect_error(edit_json(clf_file, tmp_path / "j.nlpkit", edit), match)


def test_sizes_are_checked_against_the_stored_weights():
    """Before a network is built: a size must be a stored dimension, and what the sizes
    imply must fit the stored elements (no hidden size set to the vocabulary's length)."""
    from nlpkit.modelfile import Fields
    from nlpkit.models.io import check_sizes

    arrays = {"embedding.weight": np.zeros((100_000, 2), np.float32)}
    f = Fields({}, "m.nlpkit")
    check_sizes(f, arrays, {"params.embedding_dim": 2, "params.hidden_size": 2},
                {"params.num_layers": 1}, square="params.hidden_size")
    with pytest.raises(InputFileError, match="hidden_size = 100000 is more than the 200000"):
        check_sizes(f, arrays, {"params.embedding_dim": 2, "params.hidden_size": 100_000},
                    square="params.hidden_size")
    with pytest.raises(InputFileError, match="[ab] = 100000 with [ab] = 100000 is more than"):
        check_sizes(f, arrays, {"a": 100_000, "b": 100_000})
    with pytest.raises(InputFileError, match="a = 3 is not a size"):
        check_sizes(f, arrays, {"a": 3})
    with pytest.raises(InputFileError, match="num_layers = 2 is out of range"):
        check_sizes(f, arrays, {}, {"num_layers": 2})


def test_cli_says_newer_format_in_one_line(clf_file, tmp_path, capsys):
    path = edit_json(clf_file, tmp_path / "n.nlpkit", lambda d: d.update(version=9))
    code, err = run_cli(["classify", "predict", str(path), "a b c"], capsys)
    assert code == 1 and err.strip() == (f"Error: {path}: written by a newer nlpkit (model "
                                     "format 9); this nlpkit reads model format 2 and older: "
                                     "upgrade nlpkit")


def test_gz_suffix_writes_a_plain_zip(models, tmp_path):
    """Model files are zips whatever the name (the JSON member is deflated inside)."""
    path = tmp_path / "m.nlpkit.gz"
    save_model(models["lstm"], path)
    assert zipfile.is_zipfile(path)
    assert load_model(path).classes_.tolist() == ["ab", "xy"]
    gz = tmp_path / "zipped.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    expect_error(gz, "not an nlpkit model file")


def test_pickling_in_memory_still_works(models):
    from sklearn.base import clone

    clf = models["lstm"]
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert clone(clf).get_params() == clf.get_params()


def test_nothing_in_nlpkit_unpickles_a_file():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "nlpkit")
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as fh:
                    text = fh.read()
                for bad in ("pickle.load(", "pickle.loads(", "torch.load(", "allow_pickle=True"):
                    assert bad not in text, f"{name}: {bad}"
