"""N-gram counting and estimation on a Dask cluster (``build(..., scheduler=...)``,
``--scheduler``).

The one part of nlpkit that imports Dask, and only when a scheduler is given
(``pip install 'nlpkit[distributed]'``):

    cluster.py     the scheduler: an address, ``local:N`` or a ``distributed.Client``
    tasks.py       what workers run: list the corpus's files, read a byte range's
                   vocabulary, encode and count a byte range with the counting kernels,
                   merge one partition of every range's runs; estimate a partition
                   (Katz, stupid back-off) and format its part of the ARPA sections
    counting.py    the client's side of counting: ranges out, vocabularies merged in
                   corpus order, partitions of merged counts appended into the tables
                   estimation reads (or left on the workers)
    estimation.py  the client's side of an estimation on the workers: global statistics
                   reduced, contexts shuffled, sections written in order

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
byte.  A model written to an ARPA file is estimated on the workers instead, as
follows.

Estimation on the workers (design)
----------------------------------
Everything below follows from one fact of the counting layout ``(w[n-1], …, w1, wn)``
(reversed context, then the predicted word) and the partitioning by its first column
``w[n-1]`` (the newest context word), with the same bounds for every order:

(a) an n-gram's context group (equal first n-1 columns) lies in one partition;
(b) for n >= 3 an n-gram and its suffix ``w2 … wn`` (layout ``(w[n-1], …, w2, wn)``)
    share the first column, so they lie in the same partition; only the bigrams' suffixes,
    the unigrams, are global (dense arrays of the vocabulary's size, small);
(c) the context ``h = w1 … w[n-1]`` of an n-gram is printed as an order-(n-1) line
    whose first column is ``w[n-2]``, not ``w[n-1]``: the lines that take a back-off weight
    are *not* in the partition that computes it.  The weights are shuffled: each partition
    cuts its contexts by the same bounds on ``w[n-2]`` and every piece goes to the
    partition that prints it (P x P small transfers per order);
(d) SRILM's ARPA order of an order is the counting layout in rank ids, so partitions
    p = 0..P-1 are consecutive ranges of each section: the client writes an order by
    concatenating the partitions' formatted sections, one at a time (its memory holds one
    piece of text, never the n-grams).  lmplz's order is by the last word ``wn`` first: the
    lines of every partition must be re-cut by ``wn`` (a second shuffle) before they can be
    concatenated.

So per smoothing:

* stupid back-off (implemented, :mod:`.estimation`): scores are relative frequencies in a
  context group (a); the unigram scores need only the unigram counts (client).  The
  context nodes of order m come from the order-(m+1) groups (a), shuffled (c); the
  suffix closure of SRILM's context trie (every suffix of a node is a node, weight 0)
  stays within the receiving partition by (b); the unigram nodes (first columns of the
  bigram contexts, and for N >= 4 the last words of the order-2 nodes) are reduced on the
  client by OR.  Workers format their lines with SRILM's writer; the client prints the
  unigrams and concatenates (d).  Every number is computed by the same expression on the
  same operands as in one process, so the file is the same byte for byte.
* Katz (implemented): counts of counts per partition summed on the client (the
  Good-Turing discounts need only these) and the unigrams estimated there; the
  probabilities and each context's back-off weight need the lower-order probabilities
  of its extensions' suffixes, in the same partition by (b) (order 2: the dense unigram
  probabilities, sent along); nodes shuffled and closed as for stupid (c).  SRILM's
  fixups (a context node without a probability of its own: a non-event inside a
  context, or cut-offs) look single n-grams up across partitions: the workers count
  such nodes, and if there is one the client gathers the tables and estimates as a
  single process does (the same file; found only in odd corpora).
* modified Kneser-Ney (implemented, unpruned): the adjusted count of an order-k row
  (2 <= k < N) is the number of order-(k+1) rows having it as suffix, in the same
  partition by (b); the unigrams' (bigrams' last words) are summed on the client.
  Counts of counts per partition are summed there, lmplz's correction for the suffixes
  of the largest padded N-gram (LMPLZ-KN.md §3) is made by the partition holding each
  suffix (the unigram step by the client), discounts and unigram probabilities are sent
  back; probabilities and gammas are partition-local by (a)/(b).  Printing needs lmplz's
  order (d): each partition cuts every order's rows by their last word and the
  partition of that range sorts them (pieces in partition order are in counting order,
  so a stable sort by the last word gives lmplz's).  The gammas of the order-(k+1)
  contexts were computed in the partition of their last word, which is where the
  order-k lines ending in that word are printed now; lmplz pairs listed lines (not
  ending in ``</s>``/``<unk>``) and gammas one by one over a whole order, which is the
  same pairing per partition when every listed line is a context: each partition
  checks that the two counts agree, and if one does not the client estimates instead.
  With ``prune`` the pairing goes by key and stops for good at the first line that is
  no context, a state that crosses partitions: pruned models are estimated on the
  client.

Still on the client: pruned Kneser-Ney, Katz with fixups (above), and models returned
as objects, written in the binary format or filtered by ``limit_vocab`` (they are
made from the whole model in memory anyway).

Memory.  ``--memory`` is the client's budget.  A worker task gets the budget divided by
the number of worker threads on the most crowded host of the cluster (several tasks of one
host run at once; without ``--memory``, half the memory available on the worker when the
task starts, divided the same way).  A partition's merge and estimation hold the
partition in memory: the cluster is cut into ``PARTS_PER_WORKER`` partitions per worker
thread.
"""
