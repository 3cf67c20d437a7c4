"""Property test of the model-file reader: whatever the bytes, loading ends in a model or an
NlpkitError (one clear message), never another exception, a hang or a memory blow-up.

Inputs: random bytes, and a valid model file of a tiny classifier mutated (truncated, bytes
flipped, members replaced, values anywhere in model.json or in the safetensors header
replaced by huge, negative, non-finite or wrongly typed ones)."""
import io
import json
import struct
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlpkit.errors import NlpkitError
from nlpkit.models import TextClassifier
from nlpkit.models.io import load_model, save_model

X = ["a b c", "b c d", "x y z", "y z w"] * 2
Y = [0, 0, 1, 1] * 2


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """The bytes of a tiny classifier's model file, its JSON and its weights member."""
    clf = TextClassifier(embedding_dim=4, hidden_size=4, max_epochs=1, random_state=0,
                         early_stopping=False).fit(X, Y)
    path = tmp_path_factory.mktemp("fuzz") / "clf.nlpkit"
    save_model(clf, path)
    with zipfile.ZipFile(path) as zf:
        doc = json.loads(zf.read("model.json"))
        weights = zf.read("weights.safetensors")
    return path.read_bytes(), doc, weights, path.parent


def pack(doc_bytes, weights, json_first=True):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        members = [("model.json", doc_bytes, zipfile.ZIP_DEFLATED),
                   ("weights.safetensors", weights, zipfile.ZIP_STORED)]
        for name, data, method in (members if json_first else members[::-1]):
            zf.writestr(name, data, compress_type=method)
    return out.getvalue()


ODD = st.one_of(
    st.integers(min_value=-2**70, max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63, -2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.booleans(),
    st.none(),
    st.lists(st.integers(-5, 5), max_size=4),
    st.dictionaries(st.text(max_size=8), st.integers(-3, 3), max_size=3),
    st.sampled_from([{"$vocab": {}}, {"$array": {"dtype": "int64", "values": [2**64]}},
                     {"$same": "vocab_"}, {"$float": "nan"}, {"$unsaved": 1}, {"$pickle": ""},
                     {"$tokenizer": {"model": {}}}, {"$map": []}, {"$pairs": [[1]]}]),
)


def paths(value, prefix=()):
    """Every place in a JSON value."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:30]):
            yield from paths(v, prefix + (i,))


def replaced(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replaced(value[path[0]], path[1:], new)
    return copy


@st.composite
def model_files(draw, valid):
    raw, doc, weights, _ = valid
    how = draw(st.sampled_from(["random", "truncate", "flip", "member", "json", "header",
                                "swap"]))
    if how == "random":
        return draw(st.binary(max_size=2048))
    if how == "truncate":
        return raw[:draw(st.integers(0, len(raw) - 1))]
    if how == "flip":
        data = bytearray(raw)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        return bytes(data)
    if how == "member":
        new = draw(st.binary(max_size=512))
        if draw(st.booleans()):
            return pack(new, weights)
        return pack(json.dumps(doc).encode(), new)
    if how == "json":
        where = draw(st.sampled_from(list(paths(doc))))
        text = json.dumps(replaced(doc, where, draw(ODD)), allow_nan=True).encode()
        return pack(text, weights, draw(st.booleans()))
    if how == "header":
        (n,) = struct.unpack("<Q", weights[:8])
        header = json.loads(weights[8:8 + n])
        where = draw(st.sampled_from(list(paths(header))))
        head = json.dumps(replaced(header, where, draw(ODD)), allow_nan=True).encode()
        body = weights[8 + n:]
        if draw(st.booleans()):
            body = body[:draw(st.integers(0, len(body)))]
        return pack(json.dumps(doc).encode(), struct.pack("<Q", len(head)) + head + body)
    # the header's length field itself
    n = draw(st.one_of(st.integers(0, 2**64 - 1), st.integers(0, len(weights))))
    return pack(json.dumps(doc).encode(), struct.pack("<Q", n) + weights[8:])


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_bytes_load_as_a_model_or_an_nlpkit_error(valid, data):
    path = valid[3] / "fuzzed.nlpkit"
    path.write_bytes(data.draw(model_files(valid)))
    try:
        model = load_model(path)
    except NlpkitError as exc:
        assert str(path) in str(exc)
        return
    assert isinstance(model, TextClassifier)
