"""Three composite models written as a user would (forward only), each against the same model
in torch loaded with nlpkit's state dict: loss and every parameter's gradient, float64, within
1e-8 relative."""
import numpy as np

from nlpkit import nn
from nlpkit.nn import functional as F

TOL = 1e-8


def _check(torch, nn_rel_err, ours, theirs, loss, loss_t):
    assert nn_rel_err(loss.numpy(), loss_t) <= TOL
    loss.backward()
    loss_t.backward()
    ours_p = dict(ours.named_parameters())
    names = [n for n, _ in theirs.named_parameters()]
    assert set(names) == set(ours_p), (names, list(ours_p))
    for name, p in theirs.named_parameters():
        assert nn_rel_err(ours_p[name].grad, p.grad) <= TOL, name


# ---------------------------------------------------------------- (a)
class BiLSTMClassifier(nn.Module):
    """Embedding -> bidirectional 2-layer LSTM with lengths -> cat(max, mean pool) -> Linear."""

    def __init__(self, vocab, dim, hidden, classes):
        super().__init__(np.float64)
        self.embedding = nn.Embedding(vocab, dim, padding_idx=0, dtype=np.float64, rng=0)
        self.lstm = nn.LSTM(dim, hidden, num_layers=2, bidirectional=True, batch_first=True,
                            dtype=np.float64, rng=1)
        self.out = nn.Linear(4 * hidden, classes, dtype=np.float64, rng=2)

    def forward(self, ids, lengths):
        h, _ = self.lstm(self.embedding(ids), lengths=lengths)
        pooled = F.cat([F.max_pool_time(h, lengths, dim=1), F.mean_pool_time(h, lengths, dim=1)],
                       dim=-1)
        return self.out(pooled)


def test_a_bilstm_pooled_classifier(torch, nn_rel_err):
    tnn = torch.nn

    class Twin(tnn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = tnn.Embedding(20, 6, padding_idx=0)
            self.lstm = tnn.LSTM(6, 5, num_layers=2, bidirectional=True, batch_first=True)
            self.out = tnn.Linear(20, 4)

        def forward(self, ids, lengths):
            packed = tnn.utils.rnn.pack_padded_sequence(self.embedding(ids), lengths,
                                                        batch_first=True, enforce_sorted=False)
            h, _ = self.lstm(packed)
            h, _ = tnn.utils.rnn.pad_packed_sequence(h, batch_first=True,
                                                     total_length=ids.shape[1])
            valid = (torch.arange(ids.shape[1])[None, :] < lengths[:, None])[:, :, None]
            mx = h.masked_fill(~valid, -torch.inf).max(dim=1).values
            mean = (h * valid).sum(1) / lengths[:, None]
            return self.out(torch.cat([mx, mean], dim=-1))

    rng = np.random.default_rng(0)
    ids = rng.integers(1, 20, (4, 7))
    lengths = np.array([7, 3, 5, 1])
    ids[np.arange(7)[None, :] >= lengths[:, None]] = 0
    y = np.array([0, 3, 1, 2])
    ours = BiLSTMClassifier(20, 6, 5, 4)
    theirs = Twin().double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    loss = F.cross_entropy(ours(ids, lengths), y)
    loss_t = tnn.functional.cross_entropy(theirs(torch.tensor(ids), torch.tensor(lengths)),
                                          torch.tensor(y))
    _check(torch, nn_rel_err, ours, theirs, loss, loss_t)


# ---------------------------------------------------------------- (b)
class AttentionDecoder(nn.Module):
    """A GRU cell called step by step, attending (dot product) over encoder states."""

    def __init__(self, vocab, dim, hidden):
        super().__init__(np.float64)
        self.embedding = nn.Embedding(vocab, dim, dtype=np.float64, rng=3)
        self.cell = nn.GRU(dim + hidden, hidden, batch_first=True, dtype=np.float64, rng=4)
        self.out = nn.Linear(2 * hidden, vocab, dtype=np.float64, rng=5)

    def forward(self, targets, memory, h):
        """targets (B, T) teacher-forced ids, memory (B, S, H), h (1, B, H)."""
        context = F.mean(memory, 1)
        logits = []
        for t in range(targets.shape[1]):  # a Python loop: T calls of the same cell
            x = F.cat([self.embedding(targets[:, t:t + 1]), context.unsqueeze(1)], dim=-1)
            out, h = self.cell(x, h)
            scores = (memory @ out.transpose(1, 2)).squeeze(2)  # (B, S)
            weights = F.softmax(scores, dim=-1)
            context = (weights.unsqueeze(1) @ memory).squeeze(1)
            logits.append(self.out(F.cat([out.squeeze(1), context], dim=-1)))
        return F.stack(logits, dim=1)


def test_b_gru_decoder_loop_with_attention(torch, nn_rel_err):
    tnn = torch.nn

    class Twin(tnn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = tnn.Embedding(9, 4)
            self.cell = tnn.GRU(4 + 5, 5, batch_first=True)
            self.out = tnn.Linear(10, 9)

        def forward(self, targets, memory, h):
            context = memory.mean(1)
            logits = []
            for t in range(targets.shape[1]):
                x = torch.cat([self.embedding(targets[:, t:t + 1]), context[:, None]], dim=-1)
                out, h = self.cell(x, h)
                weights = torch.softmax((memory @ out.transpose(1, 2)).squeeze(2), dim=-1)
                context = (weights[:, None] @ memory).squeeze(1)
                logits.append(self.out(torch.cat([out.squeeze(1), context], dim=-1)))
            return torch.stack(logits, dim=1)

    rng = np.random.default_rng(1)
    targets = rng.integers(0, 9, (3, 6))
    memory, h0 = rng.standard_normal((3, 7, 5)), rng.standard_normal((1, 3, 5))
    gold = rng.integers(0, 9, (3, 6))
    ours, theirs = AttentionDecoder(9, 4, 5), Twin().double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    mem, h = nn.tensor(memory, requires_grad=True), nn.tensor(h0, requires_grad=True)
    mem_t, h_t = torch.tensor(memory, requires_grad=True), torch.tensor(h0, requires_grad=True)
    logits = ours(targets, mem, h)
    loss = F.cross_entropy(logits.reshape(-1, 9), gold.reshape(-1))
    loss_t = tnn.functional.cross_entropy(theirs(torch.tensor(targets), mem_t, h_t).reshape(-1, 9),
                                          torch.tensor(gold).reshape(-1))
    _check(torch, nn_rel_err, ours, theirs, loss, loss_t)
    assert nn_rel_err(mem.grad, mem_t.grad) <= TOL and nn_rel_err(h.grad, h_t.grad) <= TOL


# ---------------------------------------------------------------- (c)
class TransformerLM(nn.Module):
    """Embedding (tied with the output layer) + learned positions -> 2 causal encoder layers."""

    def __init__(self, vocab, d, heads, ff, max_len):
        super().__init__(np.float64)
        self.embedding = nn.Embedding(vocab, d, dtype=np.float64, rng=6)
        self.positions = nn.LearnedPositionalEncoding(max_len, d, batch_first=True,
                                                      dtype=np.float64, rng=7)
        self.layers = nn.ModuleList([
            nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True,
                                       dtype=np.float64, rng=8 + i) for i in range(2)])
        self.norm = nn.LayerNorm(d, dtype=np.float64)
        self.out = nn.Linear(d, vocab, dtype=np.float64, rng=10)
        self.out.weight = self.embedding.weight  # tied input/output embeddings

    def forward(self, ids):
        x = self.positions(self.embedding(ids))
        mask = nn.causal_mask(ids.shape[1], np.float64)
        for layer in self.layers:
            x = layer(x, src_mask=mask)
        return self.out(self.norm(x))


def test_c_tied_transformer_lm_with_causal_mask(torch, nn_rel_err):
    tnn = torch.nn

    class Twin(tnn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = tnn.Embedding(11, 8)
            self.positions = tnn.Module()
            self.positions.weight = tnn.Parameter(torch.zeros(9, 8))
            self.layers = tnn.ModuleList([tnn.TransformerEncoderLayer(8, 2, 16, dropout=0.0,
                                                                      batch_first=True)
                                          for _ in range(2)])
            self.norm = tnn.LayerNorm(8)
            self.out = tnn.Linear(8, 11)
            self.out.weight = self.embedding.weight

        def forward(self, ids):
            n = ids.shape[1]
            x = self.embedding(ids) + self.positions.weight[:n]
            mask = tnn.Transformer.generate_square_subsequent_mask(n, dtype=torch.float64)
            for layer in self.layers:
                x = layer(x, src_mask=mask, is_causal=True)
            return self.out(self.norm(x))

    rng = np.random.default_rng(2)
    ids = rng.integers(0, 11, (3, 7))
    ours, theirs = TransformerLM(11, 8, 2, 16, 9), Twin().double()
    assert len(ours.parameters()) == len(list(theirs.parameters()))  # the tied weight once
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    logits = ours(ids[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, 11), ids[:, 1:].reshape(-1))
    loss_t = tnn.functional.cross_entropy(theirs(torch.tensor(ids[:, :-1])).reshape(-1, 11),
                                          torch.tensor(ids[:, 1:]).reshape(-1))
    _check(torch, nn_rel_err, ours, theirs, loss, loss_t)
