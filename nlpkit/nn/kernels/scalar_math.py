"""The scalar math of the element-wise nn kernels, written once for the CPU and CUDA twins.

:mod:`nlpkit.nn.kernels.elementwise` and :mod:`nlpkit.nn.kernels.optim` compile
these plain functions with ``njit(inline='always')``, their CUDA twins with
``cuda.jit(device=True)`` (through :func:`compiled`, as
``ngram/scoring_math.py``), so an activation, a loss term or an optimizer
update cannot come out differently on the two devices.  (Numba's cache does
not see edits here: clear ``nlpkit/nn/kernels/__pycache__`` after changing it.)
"""
import math
import types

SQRT_HALF = 0.7071067811865476
INV_SQRT_2PI = 0.3989422804014327
GELU_K0 = 0.7978845608028654  # sqrt(2 / pi)
GELU_K1 = 0.044715

TANH, SIGMOID, RELU, GELU, GELU_TANH = 0, 1, 2, 3, 4


def sigmoid(v):
    """1 / (1 + e^-v), split by sign so the exponential never overflows."""
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


def relu(v, zero):
    """max(v, 0) as NumPy's ``np.maximum(v, 0)`` and torch's ReLU: NaN stays NaN, negatives
    and -0 give +0.  ``zero``: 0 in ``v``'s type (the CPU kernel passes it so that float32
    stays float32 and its loop vectorises)."""
    return v if not v <= zero else zero


def relu_grad(v, dy, zero):
    """``dy * (v > 0)``: the gradient passes where ``v`` is positive (an inf or NaN ``dy``
    gives NaN elsewhere, as the product does)."""
    return dy if v > zero else dy * zero


def act(kind, v):
    """Activation ``kind`` (TANH, SIGMOID, RELU, GELU exact, GELU_TANH) of ``v``."""
    if kind == TANH:
        return math.tanh(v)
    if kind == SIGMOID:
        return sigmoid(v)
    if kind == RELU:
        return relu(v, 0.0)
    if kind == GELU:
        return 0.5 * v * (1.0 + math.erf(v * SQRT_HALF))
    return 0.5 * v * (1.0 + math.tanh(GELU_K0 * (v + GELU_K1 * v * v * v)))


def act_grad(kind, v, y):
    """d act(v) / dv, given the input ``v`` and the output ``y``."""
    if kind == TANH:
        return 1.0 - y * y
    if kind == SIGMOID:
        return y * (1.0 - y)
    if kind == RELU:
        return relu_grad(v, 1.0, 0.0)
    if kind == GELU:
        cdf = 0.5 * (1.0 + math.erf(v * SQRT_HALF))
        return cdf + v * math.exp(-0.5 * v * v) * INV_SQRT_2PI
    t = math.tanh(GELU_K0 * (v + GELU_K1 * v * v * v))
    dinner = GELU_K0 * (1.0 + 3.0 * GELU_K1 * v * v)
    return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * dinner


def bce_logits(x, y):
    """Binary cross-entropy of logit ``x`` against target ``y``, stably."""
    return (x if x > 0 else 0.0) - x * y + math.log1p(math.exp(-abs(x)))


def sgd_update(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    """torch.optim.SGD for one element: returns (new p, new momentum buffer)."""
    d = g + weight_decay * p
    b = buf
    if momentum != 0:
        b = d if first else momentum * buf + (1.0 - dampening) * d
        d = d + momentum * b if nesterov else b
    return p - lr * d, b


def adam_update(p, g, m, v, lr, b1, b2, eps, weight_decay, decoupled, step_size, sqrt_bc2):
    """torch.optim.Adam / AdamW for one element: returns (new p, new m, new v)."""
    if decoupled:
        p = p * (1.0 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    m = b1 * m + (1.0 - b1) * g
    v = b2 * v + (1.0 - b2) * g * g
    return p - step_size * (m / (math.sqrt(v) / sqrt_bc2 + eps)), m, v


_FUNCS = (sigmoid, relu, relu_grad, act, act_grad, bce_logits, sgd_update, adam_update)


def compiled(jit):
    """``{name: function}`` compiled by ``jit``, each calling the others' compiled versions."""
    scope = dict(globals())
    for f in _FUNCS:
        plain = types.FunctionType(f.__code__, scope, f.__name__, f.__defaults__)
        scope[f.__name__] = jit(plain)
    return {f.__name__: scope[f.__name__] for f in _FUNCS}
