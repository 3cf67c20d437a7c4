"""Run one reader's fuzz property in this process: ``python property_child.py TARGET N``.

Started by ``test_readers_fuzz.py`` in a child process, so that a crash (a
segfault in a kernel fed a bad table), a hang or a runaway allocation fails
one test instead of killing pytest.  Here:

* the address space is capped at what the process holds after warming up plus
  ``NLPKIT_FUZZ_MEM_MB`` (default 1500): a reader that believes a header and
  allocates tens of GB gets a MemoryError, which the property reports;
* a watchdog (faulthandler) dumps the stacks and exits if one example runs
  longer than ``NLPKIT_FUZZ_EXAMPLE_S`` seconds (default 20): a hang;
* each input is written to ``$NLPKIT_FUZZ_LAST`` before it is read, so the
  parent can show the input that crashed the process.
"""
import faulthandler
import os
import random
import resource
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from hypothesis import HealthCheck, given, note, settings, strategies as st  # noqa: E402

from fuzz.targets import TARGETS  # noqa: E402


def _cap_memory(extra_mb):
    with open("/proc/self/statm") as fh:
        vm = int(fh.read().split()[0]) * resource.getpagesize()
    limit = vm + extra_mb * (1 << 20)
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def main(name, n):
    target = TARGETS[name]
    seeds = target.seeds()
    last = os.environ.get("NLPKIT_FUZZ_LAST")
    per_example = float(os.environ.get("NLPKIT_FUZZ_EXAMPLE_S", "20"))
    outcomes = {"ok": 0, "error": 0}
    with tempfile.TemporaryDirectory() as work:
        # the seeds are valid: each reads and is used without error (this also compiles
        # every kernel the target runs before the memory cap)
        for i, s in enumerate(seeds):
            assert target.check(s, work) == "ok", f"seed {i} of {name} does not read"
        _cap_memory(int(os.environ.get("NLPKIT_FUZZ_MEM_MB", "1500")))

        @settings(max_examples=n, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        # the mutations are drawn by a Random seeded by hypothesis (hypothesis's own
        # st.randoms() leans so hard to simple draws that most inputs were truncations)
        @given(k=st.integers(0, len(seeds) - 1), seed=st.integers(0, 2 ** 64 - 1),
               pick=st.integers(0, 4), raw=st.binary(max_size=300))
        def prop(k, seed, pick, raw):
            # one input in five is random bytes, the others a mutated seed
            data = raw if pick == 0 else target.mutate(seeds[k], random.Random(seed))
            note(f"input: {data[:3000]!r}")
            if last:
                with open(last, "wb") as fh:
                    fh.write(data)
            faulthandler.dump_traceback_later(per_example, exit=True)
            try:
                outcomes[target.check(data, work)] += 1
            finally:
                faulthandler.cancel_dump_traceback_later()

        prop()
    print(f"{name}: {n} examples asked, {outcomes['ok']} read, {outcomes['error']} refused "
          "with NlpkitError")


if __name__ == "__main__":
    faulthandler.enable()
    random.seed(0)
    main(sys.argv[1], int(sys.argv[2]))
