"""Subword tokenizers: nlpkit's BPE/WordPiece vs Hugging Face ``tokenizers`` (and sentencepiece).

For each corpus (the bundled KJV train split; Debian's linux-doc text when
/work/data/linuxdoc or ``--linuxdoc DIR`` has it, as ``--copies`` renamed copies made
by ``scale_corpus.py``: 2 give about 6.1M tokens) and each configuration, every
tool runs as its own process on the same lines, with the same threads
(``RAYON_NUM_THREADS`` for tokenizers, ``num_threads`` for sentencepiece,
``--threads`` for nlpkit), and the table shows the whole process's wall time
and peak memory (GNU time) and nlpkit's ratio:

* **train**: read the corpus, learn ``--vocab-size`` symbols, write the model; each
  tool trains ``--repeats`` times (default 3), the tools in turn (the order rotating
  from round to round, so that a burst of load falls on all of them), and the table
  shows the median wall time (the runs beside it) and the largest peak memory;
* **encode**: load the model, encode the corpus, write one line of ids per line (one
  run, with the model of the last training);
  beside it the in-process encoding rate (tokens/s, reading and writing excluded);
* **parity**: nlpkit, loading the tokenizer.json that tokenizers trained, must
  write exactly tokenizers' ids for the first ``--parity-lines`` lines;
* **tokens/word** on held-out text (linux-doc's test split, KJV's test split)
  for the tokenizer each tool trained.

Numba compiles nlpkit's kernels on first use and caches them on disk.  As in
``bench_ngram_build.py``, the timed runs share a cache that an untimed warm-up
filled (every nlpkit configuration trained and encoding a slice of KJV), and the
first training of each configuration with an empty cache (a fresh
``NUMBA_CACHE_DIR``) is reported apart, as "cold train s" (``--no-cold`` skips it).
Without the warm-up the first configuration's timed run pays for compiling the
training kernel (byte-level BPE's 38 s once measured here were mostly that).

Configurations: ``bytelevel`` (GPT-2 byte-level BPE), ``metaspace`` (▁ word
starts, sentencepiece-style; sentencepiece's own BPE trainer beside it),
``suffix`` (whitespace words, ``</w>`` word ends) and ``wordpiece`` (BERT; nlpkit
trained by likelihood and, as tokenizers' WordPieceTrainer, by count).

Run as users run:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /work/venv/bin/python benchmarks/bench_subword.py
"""
from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

# Each tool's programs read lines without their line feed, as nlpkit does.
READ = """
import sys, time
def lines(path):
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            yield line.rstrip("\\n").rstrip("\\r")
"""

HF_TRAIN = READ + """
from tokenizers import Tokenizer, models, trainers, pre_tokenizers, normalizers, decoders
config, corpus, out, vocab = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if config == "bytelevel":
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
elif config == "metaspace":
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<unk>"], show_progress=False)
elif config == "suffix":
    tok = Tokenizer(models.BPE(unk_token="<unk>", end_of_word_suffix="</w>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.BPEDecoder()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<unk>"],
                                  end_of_word_suffix="</w>", show_progress=False)
else:  # BertWordPieceTokenizer's pipeline and trainer settings
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab, min_frequency=2, limit_alphabet=1000,
                                        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
                                        show_progress=False)
tok.train_from_iterator(lines(corpus), trainer)
tok.save(out)
"""

# Tokenizers and sentencepiece encode blocks of lines the same way: only ``encode`` differs.
ENCODE_LOOP = """
from itertools import islice
spent = n = 0
with open(sys.argv[3], "w") as out:
    it = lines(sys.argv[2])
    while True:
        block = list(islice(it, 1 << 15))
        if not block:
            break
        t = time.perf_counter()
        enc = encode(block)
        spent += time.perf_counter() - t
        for ids in enc:
            n += len(ids)
            out.write(" ".join(map(str, ids)) + "\\n")
print(n, spent)
"""

HF_ENCODE = READ + """
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
def encode(block):
    return [e.ids for e in tok.encode_batch(block, add_special_tokens=False)]
""" + ENCODE_LOOP

NK_ENCODE = READ + """
from nlpkit.text import load_tokenizer
tok = load_tokenizer(sys.argv[1])
tok.n_jobs = int(sys.argv[4])
spent = n = 0
with open(sys.argv[3], "w") as out:
    it = tok.iter_encode(sys.argv[2])
    while True:
        t = time.perf_counter()
        got = next(it, None)
        spent += time.perf_counter() - t
        if got is None:
            break
        ids, lengths = got
        n += len(ids)
        words = list(map(str, ids.tolist()))
        at = 0
        for k in lengths.tolist():
            out.write(" ".join(words[at:at + k]) + "\\n")
            at += k
print(n, spent)
"""

SP_TRAIN = """
import sys, sentencepiece as spm
spm.SentencePieceTrainer.train(input=sys.argv[1], model_prefix=sys.argv[2], model_type="bpe",
    vocab_size=int(sys.argv[3]), num_threads=int(sys.argv[4]), character_coverage=1.0,
    normalization_rule_name="identity", input_sentence_size=0, max_sentence_length=1 << 16,
    hard_vocab_limit=False, minloglevel=2)
"""

SP_ENCODE = READ + """
import sentencepiece as spm
sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
def encode(block):
    return sp.encode(block, num_threads=int(sys.argv[4]))
""" + ENCODE_LOOP


def run(cmd, env=None):
    """Run ``cmd``; return (wall s, peak MB, stdout)."""
    full = ["/usr/bin/time", "-f", "%e %M"] + cmd if os.path.exists("/usr/bin/time") else cmd
    r = subprocess.run(full, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd[:6])}...\n{r.stderr[-2000:]}")
    wall, peak = r.stderr.strip().splitlines()[-1].split()
    return float(wall), int(peak) / 1024, r.stdout


def nlpkit_train(config, corpus, out, vocab, threads):
    cmd = [sys.executable, "-c", "from nlpkit.cli import main; main()", "--threads", str(threads),
           "--quiet", "subword", "train", corpus, "-o", out, "--vocab-size", str(vocab)]
    if config.startswith("wordpiece"):
        cmd += ["--model", "wordpiece", "--training",
                "bpe" if config == "wordpiece-count" else "likelihood"]
    else:
        cmd += ["--style", config]
    return cmd


def warm_up(configs, tmp, threads, env):
    """Compile (or load from the cache) every kernel the timed nlpkit runs use, untimed."""
    from nlpkit import corpora
    small = os.path.join(tmp, "warm.txt")
    with gzip.open(corpora.path("kjv", "train"), "rt", encoding="utf-8") as src, \
            open(small, "w", encoding="utf-8") as dst:
        dst.writelines(line for _, line in zip(range(3000), src))
    for config in configs:
        for o in (["wordpiece", "wordpiece-count"] if config == "wordpiece" else [config]):
            model = os.path.join(tmp, "warm.json")
            run(nlpkit_train(o, small, model, 2000, threads), env)
            run([sys.executable, "-c", NK_ENCODE, model, small, os.path.join(tmp, "warm.ids"),
                 str(threads)], env)


def ids_file_equal(a, b, limit):
    same = total = 0
    with open(a) as fa, open(b) as fb:
        for x, y in zip(fa, fb):
            total += 1
            same += x == y
            if total == limit:
                break
    return same, total


def tokens_per_word(ids_path, text_path):
    with open(ids_path) as fh:
        n_tok = sum(len(line.split()) for line in fh)
    with open(text_path, encoding="utf-8", errors="replace") as fh:
        n_words = sum(len(line.split()) for line in fh)
    return n_tok / max(1, n_words)


def corpora_to_run(args, tmp):
    from nlpkit import corpora
    kjv = os.path.join(tmp, "kjv.train.txt")
    with gzip.open(corpora.path("kjv", "train"), "rb") as src, open(kjv, "wb") as dst:
        shutil.copyfileobj(src, dst)
    out = [("KJV", kjv, corpora.path("kjv", "test"))]
    train = os.path.join(args.linuxdoc, "linuxdoc.train.txt")
    if os.path.exists(train):
        if args.copies > 1:  # renamed copies: the vocabulary grows with the text (scale_corpus.py)
            scaled = os.path.join(tmp, f"linuxdoc.train.x{args.copies}.txt")
            subprocess.run([sys.executable, os.path.join(HERE, "scale_corpus.py"), train,
                            str(args.copies), "-o", scaled], check=True, capture_output=True)
            train = scaled
        out.append(("linux-doc", train, os.path.join(args.linuxdoc, "linuxdoc.test.txt")))
    else:
        print(f"(no {train}: linux-doc skipped)", file=sys.stderr)
    return [c for c in out if args.corpus in ("all", c[0].lower())]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocab-size", type=int, default=32000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--configs", default="bytelevel,metaspace,suffix,wordpiece")
    ap.add_argument("--corpus", default="all", help="all, kjv or linux-doc")
    ap.add_argument("--linuxdoc", default="/work/data/linuxdoc")
    ap.add_argument("--copies", type=int, default=2,
                    help="linux-doc: this many renamed copies (2: about 6.1M tokens, 180k types)")
    ap.add_argument("--parity-lines", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3,
                    help="train each tool this many times, in turn; the median is reported")
    ap.add_argument("--no-cold", action="store_true",
                    help="skip the runs with an empty Numba cache")
    args = ap.parse_args()
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads), TOKENIZERS_PARALLELISM="true",
               NLPKIT_THREADS=str(args.threads))
    try:
        import sentencepiece  # noqa: F401
        have_sp = True
    except ImportError:
        have_sp = False
    from common import machine
    print(f"machine: {machine()}; {args.threads} threads; vocab {args.vocab_size}; "
          f"training: median of {max(1, args.repeats)} runs")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        warm_up(args.configs.split(","), tmp, args.threads, env)
        for cname, train, test in corpora_to_run(args, tmp):
            with open(train, encoding="utf-8", errors="replace") as fh:
                n_words = sum(len(line.split()) for line in fh)
            print(f"\n{cname}: {train}, {n_words:,} whitespace tokens", flush=True)
            for config in args.configs.split(","):
                ours = ["wordpiece", "wordpiece-count"] if config == "wordpiece" else [config]
                tools = [(f"nlpkit{'' if o == config else ' (count)'}",
                          nlpkit_train(o, train, os.path.join(tmp, f"nk-{o}.json"),
                                       args.vocab_size, args.threads),
                          os.path.join(tmp, f"nk-{o}.json")) for o in ours]
                hf_json = os.path.join(tmp, f"hf-{config}.json")
                tools.append(("tokenizers", [sys.executable, "-c", HF_TRAIN, config, train, hf_json,
                                             str(args.vocab_size)], hf_json))
                if have_sp and config == "metaspace":
                    prefix = os.path.join(tmp, "sp")
                    tools.append(("sentencepiece", [sys.executable, "-c", SP_TRAIN, train, prefix,
                                                    str(args.vocab_size), str(args.threads)],
                                  prefix + ".model"))
                results = {}
                colds = {}
                for who, cmd, _ in tools:
                    if who.startswith("nlpkit") and not args.no_cold:
                        fresh = dict(env, NUMBA_CACHE_DIR=tempfile.mkdtemp(dir=tmp))
                        colds[who] = run(cmd, fresh)[0]
                        shutil.rmtree(fresh["NUMBA_CACHE_DIR"], ignore_errors=True)
                walls = {who: [] for who, _, _ in tools}
                peaks = {who: [] for who, _, _ in tools}
                for r in range(max(1, args.repeats)):
                    for who, cmd, _ in tools[r % len(tools):] + tools[:r % len(tools)]:
                        wall, peak, _ = run(cmd, env)
                        walls[who].append(wall)
                        peaks[who].append(peak)
                for who, cmd, model in tools:
                    cold = colds.get(who)
                    wall, peak = statistics.median(walls[who]), max(peaks[who])
                    runs = " ".join(f"{w:.1f}" for w in walls[who])
                    encoder = SP_ENCODE if who == "sentencepiece" else \
                        HF_ENCODE if who == "tokenizers" else NK_ENCODE
                    ids = os.path.join(tmp, f"ids-{who}.txt")
                    ewall, epeak, out = run([sys.executable, "-c", encoder, model, train, ids,
                                             str(args.threads)], env)
                    n_tok, spent = out.split()
                    held = os.path.join(tmp, f"held-{who}.txt")
                    run([sys.executable, "-c", encoder, model, test, held, str(args.threads)], env)
                    results[who] = (wall, peak, ewall, epeak, int(n_tok) / float(spent),
                                    tokens_per_word(held, test), ids, cold)
                    print(f"  {config:10s} {who:18s} train {wall:6.1f} s ({runs}) {peak:6.0f} MB"
                          f"{'' if cold is None else f' (cold {cold:.1f} s)'} | encode "
                          f"{ewall:6.1f} s {epeak:6.0f} MB {int(n_tok) / float(spent) / 1e6:5.2f}M "
                          f"tok/s | held-out tokens/word {results[who][5]:.4f}", flush=True)
                # parity: nlpkit with tokenizers' file
                nk_hf = os.path.join(tmp, "ids-nlpkit-hf.txt")
                run([sys.executable, "-c", NK_ENCODE, hf_json, train, nk_hf, str(args.threads)], env)
                same, total = ids_file_equal(nk_hf, results["tokenizers"][6], args.parity_lines)
                print(f"  {config:10s} parity: nlpkit encodes with tokenizers' file: {same}/{total} "
                      f"lines identical", flush=True)
                rows.append((cname, config, results, same, total))
    hf = "tokenizers"
    print("\n| corpus | config | tool | train s | train MB | encode s | encode MB | "
          "encode tok/s | held-out tok/word | train ratio | encode ratio | parity | "
          "cold train s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for cname, config, results, same, total in rows:
        for who, (wall, peak, ewall, epeak, rate, tpw, _, cold) in results.items():
            ratio = f"{results[hf][0] / wall:.2f}x" if who != hf else ""
            eratio = f"{rate / results[hf][4]:.2f}x" if who != hf else ""
            par = f"{same}/{total}" if who == hf else ""
            print(f"| {cname} | {config} | {who} | {wall:.1f} | {peak:.0f} | {ewall:.1f} | "
                  f"{epeak:.0f} | {rate / 1e6:.2f}M | {tpw:.4f} | {ratio} | {eratio} | {par} | "
                  f"{'' if cold is None else f'{cold:.1f}'} |")


if __name__ == "__main__":
    main()
