"""The CUDA twin of the SGNS/CBOW/fastText kernel, under Numba's CUDA simulator, against the CPU."""
import numpy as np
import pytest

from nlpkit import backend
from nlpkit.embed import trainer
from nlpkit.embed.subwords import subword_rows

# fastText's words: topic 0 spells its words with 'a', topic 1 with 'b'; n-gram rows are
# shared within a topic only (bucket large enough that few hash rows collide)
FT_WORDS = [f"{c}{k}x" for c in "ab" for k in range(6)]
FT_BUCKET = 200


@pytest.fixture(scope="module", autouse=True)
def simulator():
    if not backend.simulator_enabled():
        pytest.skip("needs NUMBA_ENABLE_CUDASIM=1 (set by tests/conftest.py)")


def _corpus():
    """Two topics that never share a sentence: words group by topic after training."""
    rng = np.random.default_rng(0)
    sents = []
    for s in range(60):
        topic = s % 2
        sents.append(rng.integers(0, 6, 5) + 6 * topic)
    ids = np.concatenate(sents).astype(np.int32)
    offsets = np.arange(0, ids.shape[0] + 1, 5, dtype=np.int64)
    return ids, offsets, np.bincount(ids, minlength=12)


def _train(kind, device, monkeypatch):
    monkeypatch.setattr(trainer, "CHUNK_WORDS", 40)  # several chunks: several GPU threads
    ids, offsets, counts = _corpus()
    rng = np.random.default_rng(1)
    kw = {}
    rows, alpha = 12, 0.05
    if kind == "fasttext":
        so, si = subword_rows(FT_WORDS, 3, 4, FT_BUCKET)
        kw = dict(sub_offsets=so, sub_ids=si, max_exp=8.0, sigmoid_size=512, ns_exponent=0.5)
        # each word's mean over 6 rows starts small and moves slowly: a larger rate keeps
        # the simulator run to 3 epochs
        rows, alpha = rows + FT_BUCKET, 0.2
    syn0 = ((rng.random((rows, 8), dtype=np.float32) - 0.5) / 8).astype(np.float32)
    syn1 = np.zeros((12, 8), np.float32)
    losses = []
    for _ in range(2):  # loss of the first epoch, then after more training
        st = trainer.train(kind, syn0, syn1, ids, offsets, counts, window=2, negative=3,
                           alpha=alpha, min_alpha=0.01, sample=0, epochs=2 if losses else 1,
                           seed=3, device=device, **kw)
        losses.append(st["loss"])
    if kind == "fasttext":  # fastText's word vectors: the mean of a word's rows
        so, si = kw["sub_offsets"], kw["sub_ids"]
        return np.array([syn0[si[so[w]:so[w + 1]]].mean(axis=0) for w in range(12)]), losses
    return syn0[:12], losses


def _topic_gap(syn0):
    u = syn0 / np.linalg.norm(syn0, axis=1, keepdims=True)
    sim = u @ u.T
    same = np.add.outer(np.arange(12) // 6, np.zeros(12)) == np.arange(12) // 6
    off = ~np.eye(12, dtype=bool)
    return sim[same & off].mean() - sim[~same].mean()


def _neighbours_in_topic(vecs, k=3):
    """Share of each word's ``k`` nearest neighbours that are of its own topic."""
    u = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    sim = u @ u.T
    np.fill_diagonal(sim, -np.inf)
    nearest = np.argsort(-sim, axis=1)[:, :k]
    return np.mean(nearest // 6 == (np.arange(12) // 6)[:, None])


@pytest.mark.cuda
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # simulator RNG
@pytest.mark.parametrize("kind", ["sgns", "cbow", "fasttext"])
def test_cuda_twin_learns_like_cpu(kind, monkeypatch):
    cpu, cpu_loss = _train(kind, "cpu", monkeypatch)
    gpu, gpu_loss = _train(kind, "cuda", monkeypatch)
    assert gpu_loss[1] < gpu_loss[0] and cpu_loss[1] < cpu_loss[0]
    assert abs(gpu_loss[1] - cpu_loss[1]) < 0.1
    assert _topic_gap(cpu) > 0.3 and _topic_gap(gpu) > 0.3
    # the twins learn the same neighbourhoods: nearest words of the same topic (chance: 5/11)
    assert _neighbours_in_topic(cpu) > 0.8 and _neighbours_in_topic(gpu) > 0.8
