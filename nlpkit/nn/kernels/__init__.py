"""The nn kernels on the CPU (Numba and NumPy), one module per family; their CUDA twins
are in :mod:`nlpkit.nn.cuda` under the same module and function names.  Kernels know
no layer: :mod:`nlpkit.nn.functional` picks this package or its twin from the arrays."""
import sys

from ... import backend
from . import arrays, attention, conv, elementwise, optim, recurrent


def for_arrays(*arrays):
    """This package, or its CUDA twin :mod:`nlpkit.nn.cuda` when any array is a device array."""
    for a in arrays:
        if backend.is_device_array(a):
            return backend.pick(sys.modules[__name__], "nlpkit.nn.cuda", a)
    return sys.modules[__name__]


__all__ = ["for_arrays", "arrays", "attention", "conv", "elementwise", "optim", "recurrent"]
