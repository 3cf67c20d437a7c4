"""Long fuzzing runs of one reader with atheris (libFuzzer for Python).

    pip install '.[fuzz]'
    python fuzz/run.py TARGET [CORPUS_DIR] [libFuzzer options]
    python fuzz/run.py arpa /tmp/corpus-arpa -max_total_time=60 -timeout=20
    python fuzz/run.py --list

TARGET is one of the readers in ``fuzz/targets.py`` (``--list`` shows them).
An input that makes the reader return a result or raise
:class:`~nlpkit.errors.NlpkitError` naming the file is fine; any other
exception, a crash, a hang past ``-timeout`` or an allocation past the
address-space cap (``NLPKIT_FUZZ_MEM_MB``, default 1500 MB above what the
warmed-up process holds: a MemoryError) is a finding, saved by libFuzzer as
``crash-<sha1>`` in the working directory (``-artifact_prefix=`` moves it).
Replay one with ``python fuzz/run.py TARGET crash-<sha1>``.

An empty CORPUS_DIR is filled with the target's seed files first.  Mutations
are half libFuzzer's own, half nlpkit's structured ones (``fuzz/mutate.py``:
lines duplicated or dropped, numbers made huge, negative or NaN, binary
offsets nudged).  Coverage comes from the reader modules only (listed below),
instrumented after the Numba kernels are compiled: instrumenting a kernel's
Python source would break its compilation.
"""
from __future__ import annotations

import os
import random
import resource
import sys
import tempfile
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from fuzz.targets import TARGETS  # noqa: E402

# the modules whose Python functions are instrumented for coverage (kernels excluded:
# they are Numba dispatchers, not Python functions, and are left alone)
READER_MODULES = [
    "nlpkit.ngram.formats.binary", "nlpkit.ngram.formats.arpa_reader",
    "nlpkit.ngram.formats.countfile", "nlpkit.ngram.reading.encode",
    "nlpkit.ngram.reading.vocab_file", "nlpkit.ngram.scoring.tables",
    "nlpkit.ngram.scoring.scorer", "nlpkit.embed.formats", "nlpkit.embed.keyedvectors",
    "nlpkit.embed.subwords", "nlpkit.text.vocab", "nlpkit.text.readers", "nlpkit.text.corpus",
    "nlpkit.models.data",
    "nlpkit.text.subword.formats", "nlpkit.text.subword.pipeline", "nlpkit.text.subword.model",
    "nlpkit.modelfile", "nlpkit.models.io",
]


def _instrument(atheris):
    """Instrument the plain Python functions and methods of the reader modules in place."""
    done = 0
    for name in READER_MODULES:
        mod = sys.modules.get(name)
        if mod is None:
            continue
        for obj in list(vars(mod).values()):
            funcs = [obj] if isinstance(obj, types.FunctionType) else (
                [v for v in vars(obj).values() if isinstance(v, types.FunctionType)]
                if isinstance(obj, type) and obj.__module__ == name else [])
            for f in funcs:
                if f.__module__ == name:
                    try:
                        atheris.instrument_func(f)
                        done += 1
                    except Exception:  # noqa: BLE001  (a function atheris cannot rewrite)
                        pass
    return done


def _cap_memory(extra_mb):
    with open("/proc/self/statm") as fh:
        vm = int(fh.read().split()[0]) * resource.getpagesize()
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = vm + extra_mb * (1 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY
                                            else min(limit, hard), hard))


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help", "--list"):
        print(__doc__.split("\n\n")[1] if argv[1:] != ["--list"] else "\n".join(TARGETS))
        return 0
    import atheris
    target = TARGETS[argv[1]]
    rest = argv[2:]
    seeds = target.seeds()
    if rest and not rest[0].startswith("-") and os.path.isdir(rest[0]) \
            and not os.listdir(rest[0]):
        for i, s in enumerate(seeds):
            with open(os.path.join(rest[0], f"seed-{i}"), "wb") as fh:
                fh.write(s)
    work = tempfile.mkdtemp(prefix=f"nlpkit-fuzz-{target.name}-")
    for s in seeds:  # imports every module and compiles every kernel the target runs
        if target.check(s, work) != "ok":
            raise SystemExit(f"a seed of {target.name} does not read")
    print(f"fuzz: {target.name}: instrumented {_instrument(atheris)} reader functions",
          file=sys.stderr)
    _cap_memory(int(os.environ.get("NLPKIT_FUZZ_MEM_MB", "1500")))

    def test_one(data: bytes):
        target.check(data, work)  # NlpkitError is fine; anything else is a finding

    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rnd = random.Random(seed)
        if not data or rnd.random() < 0.1:
            data = rnd.choice(seeds)
        out = target.mutate(data, rnd) if rnd.random() < 0.5 else atheris.Mutate(data, max_size)
        return out[:max_size]

    atheris.Setup([argv[0]] + rest, test_one, custom_mutator=mutator)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
