"""Word-level language modelling on the KJV split (the bundled corpus, the same files as
shared/reference/ngram/kjv): nlpkit's NeuralLM (LSTM) against nlpkit's NGramLM trigram
(Katz/Good-Turing, SRILM's model: ppl 71.98 in ppl_srilm.txt) on the same test tokens,
and the same LSTM's training speed in PyTorch.

Perplexity counts ``</s>`` and leaves OOVs out for both models.  Acceptance: the
LSTM trained for at most 15 minutes on 2 cores reaches a test perplexity below 71.98.
Training is bounded in time (``--max-time``, default 14 minutes for the loop, the rest
of the 15 goes to the vocabulary and the last validation) with a cosine learning-rate
decay over that budget; the weights with the best validation loss are kept.  The
softmax covers the ``--max-vocab`` most frequent words; the other training words are
scored as ``P(<unk>)`` times their share of the ``<unk>`` count, so both models score
exactly the same tokens (the table shows the same words and OOVs for both).

BLAS is not set here: the estimators run it on one thread themselves (see
``nlpkit.backend.blas_threads``), so these are the figures users get.
The speed row times one epoch-equivalent of batches for nlpkit and torch
(same sizes, same threads; median of ``--repeats``).

Character level (``--char``, issue 19): nlpkit's NeuralLM(unit='char') (an LSTM over the
characters of each verse, a space a character, ``</s>`` the line's end) against nlpkit's
own Kneser-Ney 7-gram over the same characters (NGramLM(order=7, smoothing='kn'), lmplz's
estimate), both in bits per character on the test split: minus the log2 probability of
every character and line end over their count (81,499 on the test split).  Acceptance:
the NeuralLM's below the 7-gram's.  ``--char-max-time`` bounds its training (40 minutes by
default, cosine decay over the budget; the weights with the best validation loss are kept):
a one-layer LSTM of 512 (one thread, loaded machine) reached a validation 1.354 bits per
character after two epochs.

Run as users run:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /work/venv/bin/python benchmarks/bench_models_lm.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /work/venv/bin/python \
        benchmarks/bench_models_lm.py --char --skip-quality --skip-speed
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import machine  # noqa: E402


def torch_steps(vocab, emb, hidden, batches, threads):
    """Seconds for forward+backward+Adam over ``batches`` [(x, lengths, targets)] in torch."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    e = torch.nn.Embedding(vocab, emb, padding_idx=0)
    rnn = torch.nn.LSTM(emb, hidden, batch_first=True)
    out = torch.nn.Linear(hidden, vocab)
    params = list(e.parameters()) + list(rnn.parameters()) + list(out.parameters())
    opt = torch.optim.Adam(params, lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100)
    t0 = time.perf_counter()
    for x, lens, t in batches:
        opt.zero_grad()
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            e(torch.from_numpy(x)), torch.from_numpy(lens), batch_first=True, enforce_sorted=False
        )
        h, _ = rnn(packed)
        h, _ = torch.nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=x.shape[1])
        loss = loss_fn(out(h).reshape(-1, vocab), torch.from_numpy(t).reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--max-time", type=float, default=840.0, help="Training seconds.")
    ap.add_argument("--max-vocab", type=int, default=5000)
    ap.add_argument("--embedding-dim", type=int, default=200)
    ap.add_argument("--hidden-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--speed-batches", type=int, default=100)
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--char", action="store_true", help="Also the character-level comparison.")
    ap.add_argument("--char-order", type=int, default=7)
    ap.add_argument("--char-cell", default="lstm")
    ap.add_argument("--char-embedding-dim", type=int, default=64)
    ap.add_argument("--char-hidden-size", type=int, default=512)
    ap.add_argument("--char-layers", type=int, default=1)
    ap.add_argument("--char-dropout", type=float, default=0.0)
    ap.add_argument("--char-bptt", type=int, default=100)
    ap.add_argument("--char-batch-size", type=int, default=32)
    ap.add_argument("--char-lr", type=float, default=3e-3)
    ap.add_argument("--char-epochs", type=int, default=30)
    ap.add_argument("--char-max-time", type=float, default=2400.0)
    ap.add_argument("--subset", type=int, default=None, help="Train on this many sentences (quick runs).")
    args = ap.parse_args()

    from nlpkit import corpora
    from nlpkit.models import NeuralLM
    from nlpkit.models.data import length_sorted_batches
    from nlpkit.ngram.lm import NGramLM

    train = corpora.load("kjv", "train")
    test = corpora.load("kjv", "test")
    if args.subset:
        train = train[: args.subset]
    print(f"# {machine()}; threads={args.threads}; train {len(train)} sentences, test {len(test)}")

    if not args.skip_quality:
        ng = NGramLM(order=3).fit(train)
        st = ng.scorer_.perplexity_stats(test)
        t0 = time.perf_counter()
        lm = NeuralLM(
            cell="lstm",
            embedding_dim=args.embedding_dim,
            hidden_size=args.hidden_size,
            dropout=0.1,
            max_vocab=args.max_vocab,
            max_epochs=args.epochs,
            max_time=args.max_time,
            lr_schedule="cosine",
            lr=3e-3,
            batch_size=32,
            validation_fraction=0.02,
            n_iter_no_change=2,
            random_state=0,
            n_jobs=args.threads,
            verbose=1,
        ).fit(train)
        t = time.perf_counter() - t0
        ours = lm.perplexity_stats(test)
        print("| model | test ppl | words | OOVs | train s |")
        print("|---|---|---|---|---|")
        print(
            f"| NGramLM order 3 Katz (SRILM -order 3: 71.98) | {st.ppl:.2f} | {st.words} "
            f"| {st.oovs} | - |"
        )
        print(
            f"| nlpkit NeuralLM LSTM {args.embedding_dim}/{args.hidden_size}, "
            f"softmax over {len(lm.vocab_)} words, {lm.history_[-1]['epoch']} epochs "
            f"(time-bounded) | "
            f"{ours.ppl:.2f} | {ours.words} | {ours.oovs} | {t:.0f} |"
        )

    if args.char:
        char_level(args, train, test)
    if args.skip_speed:
        return
    # speed: the same batches through nlpkit's and torch's LSTM LM
    small = NeuralLM(
        cell="lstm",
        embedding_dim=args.embedding_dim,
        hidden_size=args.hidden_size,
        dropout=0.0,
        max_epochs=1,
        bptt=10**6,
        early_stopping=False,
        random_state=0,
        n_jobs=args.threads,
    )
    sents = small._sentences(train[: 32 * args.speed_batches])
    small.fit(sents)  # warm-up (compiles) and fixes the vocabulary the torch run uses
    seqs = small._encode(sents)
    lengths = np.array([len(s) - 1 for s in seqs])
    batches = [
        small._inputs_targets(seqs, b)
        for b in length_sorted_batches(lengths, 32, np.random.default_rng(0))
    ]
    vocab = len(small.vocab_)
    torch_steps(vocab, args.embedding_dim, args.hidden_size, batches[:2], args.threads)  # warm-up
    ours, theirs = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        small.fit(sents)
        ours.append(time.perf_counter() - t0)
        theirs.append(
            torch_steps(vocab, args.embedding_dim, args.hidden_size, batches, args.threads)
        )
    a, b = statistics.median(ours), statistics.median(theirs)
    n_tok = int(lengths.sum())
    print(
        f"\nLSTM LM training speed, {len(batches)} batches of 32 sentences ({n_tok} tokens), "
        f"vocab {vocab}, "
        f"median of {args.repeats}"
    )
    print("| task | nlpkit s | torch s | nlpkit/torch |")
    print("|---|---|---|---|")
    print(f"| LSTM LM epoch ({n_tok} tokens) | {a:.2f} | {b:.2f} | {a / b:.2f} |")


def char_level(args, train, test):
    """Bits per character on the test split: NeuralLM(unit='char') beside a Kneser-Ney
    n-gram over the same characters."""
    import math

    from nlpkit.models import NeuralLM
    from nlpkit.ngram.lm import NGramLM

    def as_chars(lines):  # characters as tokens; '_' stands for the space between words
        return [" ".join("_" if c == " " else c for c in " ".join(line.split())) for line in lines]

    n_chars = sum(len(" ".join(line.split())) + 1 for line in test)  # + the line end
    t0 = time.perf_counter()
    ng = NGramLM(order=args.char_order, smoothing="kn").fit(as_chars(train))
    t_ng = time.perf_counter() - t0
    st = ng.scorer_.perplexity_stats(as_chars(test))
    kn_bpc = -st.logprob * math.log2(10) / n_chars
    print(f"done: KN {args.char_order}-gram {kn_bpc:.4f} bpc ({st.oovs} OOVs)", file=sys.stderr,
          flush=True)
    t0 = time.perf_counter()
    lm = NeuralLM(
        cell=args.char_cell,
        unit="char",
        embedding_dim=args.char_embedding_dim,
        hidden_size=args.char_hidden_size,
        num_layers=args.char_layers,
        dropout=args.char_dropout,
        bptt=args.char_bptt,
        batch_size=args.char_batch_size,
        lr=args.char_lr,
        max_epochs=args.char_epochs,
        max_time=args.char_max_time,
        lr_schedule="cosine",
        validation_fraction=0.02,
        n_iter_no_change=3,
        random_state=0,
        n_jobs=args.threads,
        verbose=1,
    ).fit(train)
    t_lm = time.perf_counter() - t0
    bpc = lm.bits_per_character(test)
    ours = lm.perplexity_stats(test)
    print(f"\nCharacter level, KJV test split ({n_chars} characters with line ends)")
    print("| model | test bits per character | OOVs | train s |")
    print("|---|---|---|---|")
    print(f"| NGramLM order {args.char_order} Kneser-Ney over characters | {kn_bpc:.4f} | "
          f"{st.oovs} | {t_ng:.0f} |")
    print(f"| nlpkit NeuralLM(unit='char') {args.char_cell} {args.char_layers}x"
          f"{args.char_hidden_size}, {lm.history_[-1]['epoch']} epochs (time-bounded) | "
          f"{bpc:.4f} | {ours.oovs} | {t_lm:.0f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
