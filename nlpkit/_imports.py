"""Import-time plumbing: scikit-learn's base classes without the SciPy modules they never use.

Every estimator subclasses :class:`sklearn.base.BaseEstimator` (clone, ``get_params``,
Pipeline and GridSearchCV depend on it), and ``import sklearn.base`` runs
``sklearn.utils.fixes``, which imports :mod:`scipy.stats` (for ``_mode`` only), and
``sklearn.utils._array_api``, which imports :mod:`scipy.special` (for ``_expit`` and
``_logit`` only).  scipy.stats alone is about half a second of CPU on every start of the
``nlpkit`` command, more than a one-epoch training run of a small corpus spends in its
kernels.  scikit-learn has since deferred both imports itself (scikit-learn PR #34265),
after the release installed here (1.9.1).

:func:`sklearn_base` imports :mod:`sklearn.base` with those two names standing in
``sys.modules`` as placeholders for the length of that import: a placeholder loads the
real module on the first attribute anybody reads from it.  Once ``sklearn.base`` is
in, the placeholders leave ``sys.modules``, so a later ``import scipy.stats`` anywhere
loads the real module as usual, and ``scipy.stats`` reached through the ``scipy``
package (how ``sklearn.utils.fixes`` uses it) loads it on first use.  Where either
module is already imported, or a scikit-learn version does not import it, nothing
changes.
"""
from __future__ import annotations

import importlib
import sys
import threading
import types

_DEFERRED = ("scipy.stats", "scipy.special")
_lock = threading.Lock()


class _Placeholder(types.ModuleType):
    """Stands for module ``__name__`` until an attribute is read from it."""

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__") and attr not in ("__path__", "__all__",
                                                                          "__file__"):
            raise AttributeError(attr)
        return getattr(_real(self.__name__, self), attr)

    def __dir__(self):
        return dir(_real(self.__name__, self))


def _real(name, placeholder):
    if sys.modules.get(name) is placeholder:
        with _lock:
            if sys.modules.get(name) is placeholder:
                del sys.modules[name]
    return importlib.import_module(name)


def sklearn_base():
    """The :mod:`sklearn.base` module, imported without loading scipy.stats and
    scipy.special (see the module's docstring)."""
    base = sys.modules.get("sklearn.base")
    if base is not None:
        return base
    import scipy  # noqa: F401  (the package itself is light; its submodules load lazily)
    placed = {}
    with _lock:
        for name in _DEFERRED:
            if name not in sys.modules:
                placed[name] = sys.modules[name] = _Placeholder(name)
    try:
        base = importlib.import_module("sklearn.base")
    finally:
        with _lock:
            for name, placeholder in placed.items():
                if sys.modules.get(name) is placeholder:
                    del sys.modules[name]
    return base
