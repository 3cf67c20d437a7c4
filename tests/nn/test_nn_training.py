"""Composition: a small model trained end to end, written as a user would (forward only)."""
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
        _, (h_n, _) = self.lstm(self.embed(ids), lengths=lengths)
        return self.head(h_n[0])


def test_model_learns_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, (64, 6))
    lengths = rng.integers(3, 7, 64)
    labels = ids[:, 0] % 3
    model = FirstTokenClassifier(5, 16, 3)
    loss_fn = nn.CrossEntropyLoss()
    opt = nn.Adam(model.parameters(), lr=0.03)
    sched = nn.WarmupDecay(opt, warmup_steps=5, total_steps=80, decay="cosine")
    losses = []
    for step in range(80):
        opt.zero_grad()
        loss = nn.check_finite(loss_fn(model(ids, lengths), labels), f"step {step}")
        loss.backward()
        nn.clip_grad_norm(model, 5.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    model.eval()
    with nn.no_grad():
        accuracy = (model(ids, lengths).argmax(-1).numpy() == labels).mean()
    assert accuracy > 0.95
    path = tmp_path / "model.npz"
    model.save(path)
    clone = FirstTokenClassifier(5, 16, 3).load(path)
    assert np.array_equal(clone(ids, lengths).numpy(), model(ids, lengths).numpy())
