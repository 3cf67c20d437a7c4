"""The CUDA twin of the SGNS/CBOW kernel, under Numba's CUDA simulator, against the CPU."""
import numpy as np
import pytest

from nlpkit import backend
from nlpkit.embed import trainer


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
    syn0 = ((rng.random((12, 8), dtype=np.float32) - 0.5) / 8).astype(np.float32)
    syn1 = np.zeros((12, 8), np.float32)
    losses = []
    for _ in range(2):  # loss of the first epoch, then after more training
        st = trainer.train(kind, syn0, syn1, ids, offsets, counts, window=2, negative=3,
                           alpha=0.05, min_alpha=0.01, sample=0, epochs=2 if losses else 1,
                           seed=3, device=device)
        losses.append(st["loss"])
    return syn0, losses


def _topic_gap(syn0):
    u = syn0 / np.linalg.norm(syn0, axis=1, keepdims=True)
    sim = u @ u.T
    same = np.add.outer(np.arange(12) // 6, np.zeros(12)) == np.arange(12) // 6
    off = ~np.eye(12, dtype=bool)
    return sim[same & off].mean() - sim[~same].mean()


@pytest.mark.cuda
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # simulator RNG
@pytest.mark.parametrize("kind", ["sgns", "cbow"])
def test_cuda_twin_learns_like_cpu(kind, monkeypatch):
    cpu, cpu_loss = _train(kind, "cpu", monkeypatch)
    gpu, gpu_loss = _train(kind, "cuda", monkeypatch)
    assert gpu_loss[1] < gpu_loss[0] and cpu_loss[1] < cpu_loss[0]
    assert abs(gpu_loss[1] - cpu_loss[1]) < 0.1
    assert _topic_gap(cpu) > 0.3 and _topic_gap(gpu) > 0.3
