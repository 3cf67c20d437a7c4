"""The Dask cluster a build runs on: given by address, as ``local:N``, or as a Client."""
from __future__ import annotations

import logging
import os
import re
from contextlib import contextmanager

from ...errors import NlpkitError

TIMEOUT_ENV = "NLPKIT_DASK_TIMEOUT"  # seconds to wait for the scheduler and its workers
DEFAULT_TIMEOUT = 10.0


def timeout() -> float:
    text = os.environ.get(TIMEOUT_ENV)
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1
    if value <= 0:
        raise NlpkitError(f"{TIMEOUT_ENV}={text!r}: expected a number of seconds > 0")
    return value


def _distributed():
    try:
        import distributed
    except ImportError:
        raise NlpkitError("a Dask scheduler needs Dask: install nlpkit[distributed]") from None
    return distributed


@contextmanager
def connect(scheduler):
    """A ``distributed.Client`` for ``scheduler``: a Client (used as it is), ``local:N``
    (a local cluster of N worker processes of one thread each, closed at the end) or the
    address of a running scheduler (``tcp://host:8786``)."""
    distributed = _distributed()
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    if not isinstance(scheduler, str):
        raise NlpkitError(f"scheduler must be an address such as tcp://host:8786, local:N or a "
                          f"dask.distributed.Client; got {type(scheduler).__name__}")
    address = scheduler.strip()
    local = re.fullmatch(r"local:(\d+)", address)
    wait = timeout()
    if local:
        n = int(local.group(1))
        if n < 1:
            raise NlpkitError(f"--scheduler {address}: a local cluster needs at least 1 worker")
        with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                      dashboard_address=":0",
                                      silence_logs=logging.CRITICAL) as cluster, \
                distributed.Client(cluster) as client:
            yield client
        return
    if local is None and address.startswith("local"):
        raise NlpkitError(f"--scheduler {address}: expected local:N (N worker processes)")
    try:
        client = distributed.Client(address, timeout=wait)
    except (OSError, TimeoutError, ValueError) as exc:
        why = "timed out" if isinstance(exc, TimeoutError) or "Timed out" in str(exc) else \
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NlpkitError(f"cannot reach the Dask scheduler at {address} within {wait:g} s "
                          f"({why}; {TIMEOUT_ENV} sets the wait)") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=wait)
        except (TimeoutError, OSError):
            raise NlpkitError(f"the Dask scheduler at {address} has no workers (waited "
                              f"{wait:g} s; {TIMEOUT_ENV} sets the wait)") from None
        yield client
