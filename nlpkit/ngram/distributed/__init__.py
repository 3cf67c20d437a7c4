"""N-gram counting on a Dask cluster (``build(..., scheduler=...)``, ``--scheduler``).

The one part of nlpkit that imports Dask, and only when a scheduler is given
(``pip install 'nlpkit[distributed]'``):

    cluster.py   the scheduler: an address, ``local:N`` or a ``distributed.Client``
    tasks.py     what workers run: list the corpus's files, read a byte range's
                 vocabulary, encode and count a byte range with the counting kernels,
                 merge one partition of every range's runs
    counting.py  the client's side: ranges out, vocabularies merged in corpus order,
                 partitions of merged counts appended into the tables estimation reads

The corpus is cut into byte ranges at line ends (:mod:`..reading.ranges`).  A first
round of tasks reads each range's words in order of first appearance (and how often
each occurs); the client interns them range after range, which gives every word the
id one process reading the whole corpus would give it (SRILM's and lmplz's ids are
"specials, then first appearance"; Katz's rank ids follow from them).  A second round
encodes each range again with those ids and counts it with the same kernels as a
single-process build, positions offset by the tokens of the ranges before, and cuts
its sorted runs into partitions by their first column (bounds that share the tokens
out evenly).  Each partition's pieces from all ranges meet on one worker and are
merged k-way there (equal n-grams summed, first positions the earliest); since the
partitions are ranges of the sort key, the client appends them in order to get each
order's table, sums the ranges' unigram counts (first positions by minimum), and
estimates and writes as a single-process build does.  The model is the same, byte for
byte.

Not distributed yet: the estimation itself (counts of counts, discounts, back-off
weights) and the ARPA writing run on the client, streaming over the merged tables in
the memory ``--memory`` allows.
"""
