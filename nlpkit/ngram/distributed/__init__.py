"""N-gram counting on a Dask cluster (``build(..., scheduler=...)``, ``--scheduler``).

The one part of nlpkit that imports Dask, and only when a scheduler is given
(``pip install 'nlpkit[distributed]'``):

    cluster.py   the scheduler: an address, ``local:N`` or a ``distributed.Client``
    tasks.py     what workers run: list the corpus's files, read a byte range's
                 vocabulary, encode and count a byte range with the counting kernels
    counting.py  the client's side: ranges out, vocabularies merged in corpus order,
                 each range's sorted runs merged into the tables estimation reads

The corpus is cut into byte ranges at line ends (:mod:`..reading.ranges`).  A first
round of tasks reads each range's words in order of first appearance; the client
interns them range after range, which gives every word the id one process reading
the whole corpus would give it.  A second round encodes each range again with
those ids and counts it with the same kernels as a single-process build, positions
offset by the tokens of the ranges before; the client merges the ranges' sorted
runs k-way (equal n-grams summed, first positions the earliest) and estimates and
writes as a single-process build does.  The model is the same, byte for byte.
"""
