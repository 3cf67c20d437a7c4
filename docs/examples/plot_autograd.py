"""
Layers and automatic differentiation with ``nlpkit.nn``
=======================================================

``nlpkit.nn`` follows PyTorch: a model is a :class:`~nlpkit.nn.Module` whose ``forward``
calls layers and ops, ``loss.backward()`` fills each parameter's ``.grad``, and an
optimizer steps.  Here a bag-of-embeddings model learns to tell two made-up classes of
token sequences apart.
"""
import numpy as np

from nlpkit import nn
from nlpkit.nn import functional as F


class BagOfEmbeddings(nn.Module):
    def __init__(self, vocab_size, dim, n_classes):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim)
        self.out = nn.Linear(dim, n_classes)

    def forward(self, ids):
        return self.out(self.embedding(ids).mean(dim=1))


rng = np.random.default_rng(0)
# class 0 uses tokens 0-9, class 1 tokens 10-19
y = rng.integers(0, 2, size=64)
ids = rng.integers(0, 10, size=(64, 6)) + 10 * y[:, None]

model = BagOfEmbeddings(20, 8, 2)
opt = nn.Adam(model.parameters(), lr=0.05)
for step in range(30):
    loss = F.cross_entropy(model(ids), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 10 == 0:
        print(f"step {step}: loss {loss.item():.3f}")

accuracy = (model(ids).numpy().argmax(axis=1) == y).mean()
print(f"training accuracy {accuracy:.2f}")
print({name: p.shape for name, p in model.state_dict().items()})
