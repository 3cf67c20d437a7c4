"""Composition: a small model trained end to end with the pieces of nlpkit.nn."""
import numpy as np

from nlpkit import nn


class FirstTokenClassifier(nn.Module):
    """Embedding -> LSTM -> Linear on the last state: must remember the first token."""

    def __init__(self, vocab, dim, classes):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, rng=0)
        self.lstm = nn.LSTM(dim, dim, batch_first=True, rng=1)
        self.head = nn.Linear(dim, classes, rng=2)

    def forward(self, ids, lengths):
        out, (h_n, _) = self.lstm(self.embed(ids), lengths=lengths)
        self._cache = out.shape
        return self.head(h_n[0])

    def backward(self, grad_logits):
        n_states = (1,) + grad_logits.shape[:1] + (self.lstm.hidden_size,)
        d_h = self.head.backward(grad_logits).reshape(n_states)
        d_x, _ = self.lstm.backward(None, (d_h, None))
        self.embed.backward(d_x)


def test_model_learns_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, (64, 6))
    lengths = rng.integers(3, 7, 64)
    labels = ids[:, 0] % 3
    model = FirstTokenClassifier(5, 16, 3)
    loss_fn = nn.CrossEntropyLoss()
    opt = nn.Adam(model, lr=0.03)
    sched = nn.WarmupDecay(opt, warmup_steps=5, total_steps=80, decay="cosine")
    losses = []
    for step in range(80):
        opt.zero_grad()
        loss = nn.check_finite(loss_fn(model(ids, lengths), labels), f"step {step}")
        model.backward(loss_fn.backward())
        nn.clip_grad_norm(model, 5.0)
        opt.step()
        sched.step()
        losses.append(loss)
    assert losses[-1] < 0.1 * losses[0]
    model.eval()
    accuracy = (model(ids, lengths).argmax(axis=1) == labels).mean()
    assert accuracy > 0.95
    path = tmp_path / "model.npz"
    model.save(path)
    clone = FirstTokenClassifier(5, 16, 3).load(path)
    assert np.array_equal(clone(ids, lengths), model(ids, lengths))
