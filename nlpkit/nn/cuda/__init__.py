"""CUDA twins of :mod:`nlpkit.nn.kernels`: the same module and function names with the
same arguments and results, on device arrays.  Imported only when an op meets a device
array; nothing here touches the GPU at import (kernels are compiled lazily)."""
from . import arrays, attention, conv, elementwise, optim, recurrent

__all__ = ["arrays", "attention", "conv", "elementwise", "optim", "recurrent"]
